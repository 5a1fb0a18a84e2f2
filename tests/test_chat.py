"""The web chat over HTTP: links, the date-of-birth check, and what a post may and may not do.

The assistant is replaced here by a recorder of what the web app sends it, and the
transcript by rows written into Rasa's events table as its tracker store writes them;
tests/test_chat_conversation.py and tests/test_chat_browser.py use the real Rasa stack.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from bot.transcript import EVENTS
from careprep.messaging.reminders import book_review
from careprep.preparation import messages
from careprep.settings import Settings
from careprep.store import engine_for, session_scope
from careprep.store.models import Appointment, Preparation, SafetyFlag
from tests.factories import book
from web.app import create_app
from web.chat import MAX_MESSAGE, PER_MINUTE, START, RasaUnavailable

DOB = {"day": "3", "month": "2", "year": "1950"}
"""The date of birth the factories give every patient (1950-02-03)."""


@dataclass
class Recorder:
    """Stands in for the Rasa server: keeps what was sent, or fails when told to."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    def __call__(self, sender_id: str, text: str) -> None:
        if self.down:
            raise RasaUnavailable("connection refused")
        self.sent.append((sender_id, text))


@dataclass
class Link:
    settings: Settings
    rasa: Recorder
    token: str
    sender_id: str
    preparation_id: int
    name: str


def link_of(settings: Settings, appointment: Appointment) -> Link:
    """The chat link of an appointment (a preparation or a review) of Zelda Quill's."""
    preparation = appointment.preparation
    return Link(
        settings,
        Recorder(),
        preparation.link_token,
        preparation.invite_token,
        preparation.id,
        "Zelda Quill",
    )


@pytest.fixture
def link(settings: Settings) -> Link:
    with session_scope(settings.database_url) as session:
        return link_of(settings, book(session, name="Zelda Quill"))


def client_of(link: Link) -> TestClient:
    return TestClient(create_app(link.settings, ask_rasa=link.rasa), follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def checked(link: Link) -> TestClient:
    """A browser that has passed the date-of-birth check for this link."""
    client = client_of(link)
    page = client.get(f"/chat/{link.token}")
    answer = client.post(
        f"/chat/{link.token}/check", data={**DOB, "csrf_token": csrf_of(page.text)}
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/chat/{link.token}"
    return client


def add_events(link: Link, *events: tuple[str, dict[str, Any]], at: float | None = None) -> None:
    """Write events into Rasa's tracker store table as its SQL tracker store does."""
    engine = engine_for(link.settings.database_url)
    EVENTS.create(engine, checkfirst=True)
    with session_scope(link.settings.database_url) as session:
        for type_name, data in events:
            session.execute(
                insert(EVENTS).values(
                    sender_id=link.sender_id,
                    type_name=type_name,
                    timestamp=at or time.time(),
                    data=json.dumps({"event": type_name, **data}),
                )
            )


def test_an_unknown_a_tampered_a_cancelled_and_a_past_link_all_look_the_same(
    link: Link,
) -> None:
    client = client_of(link)
    unknown = client.get("/chat/not-a-token")
    tampered = client.get(f"/chat/{link.token[:-1]}{'A' if link.token[-1] != 'A' else 'B'}")
    with session_scope(link.settings.database_url) as session:
        cancelled = book(session, name="Yan Cancelled")
        cancelled.status = "cancelled"
        past = book(session, name="Xavi Past")
        past.starts_at = datetime.now(timezone.utc) - timedelta(hours=1)
        tokens = cancelled.preparation.link_token, past.preparation.link_token
    pages = [unknown, tampered, *(client.get(f"/chat/{token}") for token in tokens)]
    assert {page.status_code for page in pages} == {404}
    assert len({page.text for page in pages}) == 1, "a closed link must not say why"
    assert "This link does not work" in unknown.text
    for name in ("Zelda", "Yan", "Xavi", "Hill Surgery"):
        assert name not in unknown.text
    assert link.rasa.sent == []


def test_nothing_personal_before_the_date_of_birth(link: Link) -> None:
    page = client_of(link).get(f"/chat/{link.token}")
    assert page.status_code == 200
    assert "What is your date of birth?" in page.text
    assert link.name not in page.text and "Hill Surgery" not in page.text
    assert link.sender_id not in page.text
    assert link.rasa.sent == []


def test_three_wrong_dates_of_birth_stop_the_link_and_flag_it(link: Link) -> None:
    client = client_of(link)
    csrf = csrf_of(client.get(f"/chat/{link.token}").text)
    url = f"/chat/{link.token}/check"
    first = client.post(url, data={"day": "4", "month": "2", "year": "1950", "csrf_token": csrf})
    assert first.status_code == 400 and "You have 2 more tries left." in first.text
    second = client.post(url, data={"day": "3", "month": "3", "year": "1950", "csrf_token": csrf})
    assert "You have 1 more try left." in second.text
    third = client.post(url, data={"day": "3", "month": "2", "year": "1951", "csrf_token": csrf})
    assert third.status_code == 403 and "Please contact your practice" in third.text
    # Locked for good, even with the right date, on this device and any other.
    right = client.post(url, data={**DOB, "csrf_token": csrf})
    assert right.status_code == 403
    assert client_of(link).get(f"/chat/{link.token}").status_code == 403
    with session_scope(link.settings.database_url) as session:
        flags = session.scalars(
            select(SafetyFlag).where(SafetyFlag.preparation_id == link.preparation_id)
        ).all()
        assert [(flag.level, "in the web chat" in flag.message) for flag in flags] == [
            ("identity", True)
        ]
    assert link.rasa.sent == []


@pytest.mark.parametrize(
    ("day", "month", "year", "problem"),
    [
        ("", "2", "1950", "with a day, a month and a year"),
        ("3", "Feb", "1950", "in numbers"),
        ("3", "2", "50", "in numbers"),
        ("31", "2", "1950", "must be a real date"),
        ("3", "2", "2999", "must be in the past"),
    ],
)
def test_a_date_that_cannot_be_read_is_explained_and_costs_no_try(
    link: Link, day: str, month: str, year: str, problem: str
) -> None:
    client = client_of(link)
    csrf = csrf_of(client.get(f"/chat/{link.token}").text)
    page = client.post(
        f"/chat/{link.token}/check",
        data={"day": day, "month": month, "year": year, "csrf_token": csrf},
    )
    assert page.status_code == 400 and problem in page.text
    assert f'value="{month}"' in page.text, "what was typed stays in the boxes"
    with session_scope(link.settings.database_url) as session:
        assert session.get(Preparation, link.preparation_id).identity_failures == 0


def test_the_right_date_opens_the_chat_in_this_browser_only(link: Link) -> None:
    client = checked(link)
    page = client.get(f"/chat/{link.token}")
    assert page.status_code == 200 and 'role="log"' in page.text
    assert link.rasa.sent == [(link.sender_id, START)], "the conversation is started for them"
    assert link.sender_id not in page.text
    # A forwarded link on another device asks again.
    other = client_of(link).get(f"/chat/{link.token}")
    assert "What is your date of birth?" in other.text


def test_the_transcript_shows_sms_and_web_messages_with_tappable_numbers(link: Link) -> None:
    add_events(
        link,
        ("user", {"text": "hi", "input_channel": "sms"}),
        ("bot", {"text": "Question 2 of 14: What matters most to you?\nOk <b>?</b>"}),
        ("user", {"text": "My <i>garden</i>", "input_channel": "rest"}),
        ("bot", {"text": messages.SAFETY_REPLIES["mental_health"]}),
        ("user", {"text": "/greet", "input_channel": "rest"}),
        (
            "bot",
            {"text": "Question 14 of 14: May we share?", "data": {"buttons": [{"title": "Yes"}]}},
        ),
    )
    page = checked(link).get(f"/chat/{link.token}").text
    assert "You, by text message" in page
    assert "My &lt;i&gt;garden&lt;/i&gt;" in page and "Ok &lt;b&gt;?&lt;/b&gt;" in page
    assert '<a href="tel:999">999</a>' in page and '<a href="tel:116123">116 123</a>' in page
    assert '<a href="tel:111">NHS 111</a>' in page
    assert "/greet" not in page
    assert re.search(r'<button class="[^"]*" type="submit" name="message" value="Yes">', page)
    assert link.rasa.sent == [], "a conversation already under way is not started again"


def test_a_reply_is_sent_for_the_conversation_the_link_names_whatever_the_form_says(
    link: Link,
) -> None:
    client = checked(link)
    csrf = csrf_of(client.get(f"/chat/{link.token}").text)
    answer = client.post(
        f"/chat/{link.token}",
        data={"typed": "My garden", "csrf_token": csrf, "sender": "someone-else", "after": "0"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/chat/{link.token}#latest"
    assert link.rasa.sent[-1] == (link.sender_id, "My garden")
    ticked = client.post(
        f"/chat/{link.token}",
        data={"choice": ["2", "4", "x"], "typed": " my knees ", "csrf_token": csrf},
    )
    assert ticked.status_code == 303
    assert link.rasa.sent[-1] == (link.sender_id, "2 4 my knees")
    button = client.post(
        f"/chat/{link.token}", data={"message": "SKIP", "typed": "half", "csrf_token": csrf}
    )
    assert button.status_code == 303 and link.rasa.sent[-1] == (link.sender_id, "SKIP")


def test_a_browser_that_has_not_passed_the_check_cannot_post(link: Link) -> None:
    client = client_of(link)
    csrf = csrf_of(client.get(f"/chat/{link.token}").text)
    answer = client.post(f"/chat/{link.token}", data={"typed": "hello", "csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == f"/chat/{link.token}"
    assert link.rasa.sent == []


@pytest.mark.parametrize(
    ("headers", "use_token"),
    [({"Origin": "https://evil.example"}, True), ({"Origin": "null"}, True), ({}, False)],
)
def test_a_cross_site_post_or_one_without_the_form_s_token_is_refused(
    link: Link, headers: dict[str, str], use_token: bool
) -> None:
    client = checked(link)
    csrf = csrf_of(client.get(f"/chat/{link.token}").text)
    sent = list(link.rasa.sent)
    data = {"typed": "hello", "csrf_token": csrf if use_token else "forged"}
    answer = client.post(f"/chat/{link.token}", data=data, headers=headers)
    assert answer.status_code == 403 and "did not come from this site" in answer.text
    check = client.post(f"/chat/{link.token}/check", data={**DOB, "csrf_token": "x"})
    assert check.status_code == 403
    assert link.rasa.sent == sent


def test_an_over_long_or_empty_reply_is_refused_and_the_text_kept(link: Link) -> None:
    client = checked(link)
    csrf = csrf_of(client.get(f"/chat/{link.token}").text)
    sent = list(link.rasa.sent)
    long = "word " * (MAX_MESSAGE // 5) + "end"
    page = client.post(f"/chat/{link.token}", data={"typed": long, "csrf_token": csrf})
    assert page.status_code == 400 and "Please keep it under 2,000" in page.text
    assert f">{long}</textarea>" in page.text
    empty = client.post(f"/chat/{link.token}", data={"typed": "   ", "csrf_token": csrf})
    assert empty.status_code == 400 and "Type a reply" in empty.text
    assert link.rasa.sent == sent


def test_more_than_30_messages_a_minute_get_429_and_the_text_kept(link: Link) -> None:
    client = checked(link)
    csrf = csrf_of(client.get(f"/chat/{link.token}").text)
    add_events(link, *[("user", {"text": f"message {n}"}) for n in range(PER_MINUTE - 1)])
    add_events(link, ("user", {"text": "an hour ago"}), at=time.time() - 3600)
    assert (
        client.post(f"/chat/{link.token}", data={"typed": "ok", "csrf_token": csrf}).status_code
        == 303
    )
    add_events(link, ("user", {"text": "ok"}))
    page = client.post(f"/chat/{link.token}", data={"typed": "one more", "csrf_token": csrf})
    assert page.status_code == 429 and "wait a minute" in page.text
    assert ">one more</textarea>" in page.text
    assert link.rasa.sent[-1] == (link.sender_id, "ok")


def test_when_the_assistant_is_down_the_reply_stays_in_the_box(link: Link) -> None:
    client = checked(link)
    csrf = csrf_of(client.get(f"/chat/{link.token}").text)
    link.rasa.down = True
    page = client.post(f"/chat/{link.token}", data={"typed": "My garden", "csrf_token": csrf})
    assert page.status_code == 503 and "Nothing is lost" in page.text
    assert ">My garden</textarea>" in page.text
    partial = client.post(
        f"/chat/{link.token}",
        data={"typed": "My garden", "csrf_token": csrf},
        headers={"X-Careprep-Chat": "1"},
    )
    assert partial.status_code == 503 and "Nothing is lost" in partial.json()["error"]


def test_with_javascript_a_reply_returns_only_the_new_messages(link: Link) -> None:
    client = checked(link)
    csrf = csrf_of(client.get(f"/chat/{link.token}").text)
    add_events(link, ("bot", {"text": "Question 2 of 14: What matters most to you?"}))
    with session_scope(link.settings.database_url) as session:
        (last,) = session.execute(select(EVENTS.c.id)).scalars().all()
    add_events(link, ("user", {"text": "My garden"}), ("bot", {"text": "Question 3 of 14: Next?"}))
    answer = client.post(
        f"/chat/{link.token}",
        data={"typed": "My garden", "csrf_token": csrf, "after": str(last)},
        headers={"X-Careprep-Chat": "1"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert "Question 3 of 14: Next?" in body["entries"]
    assert "What matters most" not in body["entries"]
    assert 'id="reply"' in body["reply"] and csrf_of(body["reply"])


def test_chat_pages_carry_the_security_headers_and_no_inline_script(link: Link) -> None:
    client = checked(link)
    page = client.get(f"/chat/{link.token}")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts == ['<script src="/static/chat.js" defer>']
    assert '<html lang="en">' in page.text


def test_the_link_closes_once_the_appointment_has_passed(link: Link) -> None:
    client = checked(link)
    with session_scope(link.settings.database_url) as session:
        preparation = session.get(Preparation, link.preparation_id)
        appointment = session.get(Appointment, preparation.appointment_id)
        appointment.starts_at = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert client.get(f"/chat/{link.token}").status_code == 404


@pytest.fixture
def review_link(settings: Settings) -> Link:
    """The link of Zelda's review of her care plan, from its reminder."""
    with session_scope(settings.database_url) as session:
        appointment = book(session, name="Zelda Quill")
        review = book_review(session, appointment, 6, "Europe/London")
        assert review is not None
        return link_of(settings, review)


def review_date(link: Link, moment: datetime) -> None:
    with session_scope(link.settings.database_url) as session:
        preparation = session.get(Preparation, link.preparation_id)
        session.get(Appointment, preparation.appointment_id).starts_at = moment


@pytest.mark.parametrize(
    ("days", "opens"),
    [(1, False), (-1, True), (-27, True), (-29, False)],  # open from its date for 28 days
)
def test_a_review_link_opens_from_its_date_for_four_weeks(
    review_link: Link, days: int, opens: bool
) -> None:
    review_date(review_link, datetime.now(timezone.utc) + timedelta(days=days))

    page = client_of(review_link).get(f"/chat/{review_link.token}")

    assert page.status_code == (200 if opens else 404)
    if opens:
        assert "Review your care plan" in page.text and "Zelda" not in page.text


def test_a_review_link_starts_the_review_conversation_after_the_check(review_link: Link) -> None:
    review_date(review_link, datetime.now(timezone.utc) - timedelta(hours=1))

    page = checked(review_link).get(f"/chat/{review_link.token}")

    assert page.status_code == 200
    assert "<h1>Review your care plan</h1>" in page.text
    assert review_link.rasa.sent == [(review_link.sender_id, "/greet")]
