"""The portal's messages over HTTP: a patient's texts on their record, an admin's weekly counts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from careprep.clinic import messages
from careprep.messaging.reminders import (
    INVITATION,
    NUDGE,
    REVIEW_REMINDER,
    REVIEW_SECOND,
    Reason,
    book_review,
)
from careprep.store import session_scope
from careprep.store.models import Appointment, OutboxMessage
from tests import test_portal as portal
from tests.test_portal import ADMIN, CLINICIAN, OTHER, Practice, client_of, sign_in

practice = portal.practice
"""The portal tests' two practices (Hill Surgery and Vale Practice), shared by import."""

NOW = datetime(2025, 7, 16, 12, 0, tzinfo=timezone.utc)
"""Wednesday 16 July 2025, 13:00 in London (summer time): the week began Sunday 23:00 UTC."""
FAILURE = "Twilio error 21614: <script>alert(1)</script> is a landline"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 7, day, hour, minute, tzinfo=timezone.utc)


@dataclass
class Outbox:
    """The portal's practices, with texts in every state around the week of ``NOW``."""

    practice: Practice
    ann_token: str


def add(session: Any, appointment: Appointment, kind: str, state: str, **fields: Any) -> None:
    body = fields.pop("body", f"{kind} to {appointment.patient.name}")
    session.add(
        OutboxMessage(
            patient_id=appointment.patient_id,
            appointment_id=appointment.id,
            kind=kind,
            state=state,
            body=body,
            due_at=fields.pop("due_at", fields.get("sent_at")),
            **fields,
        )
    )


@pytest.fixture
def outbox(practice: Practice) -> Outbox:
    with session_scope(practice.settings.database_url) as session:
        ann, bob, cat, eve = (
            session.get(Appointment, appointment_id)
            for appointment_id in (
                practice.prepared,
                practice.flagged,
                practice.unshared,
                practice.elsewhere,
            )
        )
        ann_review = book_review(session, ann, 6, "Europe/London")
        cat_review = book_review(session, cat, 6, "Europe/London")
        token = ann.preparation.link_token
        link = f"{practice.settings.web_url}/chat/{token}"
        # Counted this week at Hill Surgery:
        add(session, ann, INVITATION, "delivered", sent_at=at(14, 9), body=f"Hello: {link}")
        add(session, ann, NUDGE, "failed", due_at=at(15, 10), last_error=FAILURE, attempts=1)
        add(session, ann_review, REVIEW_REMINDER, "pending", due_at=at(18, 9))
        bob_failure = "Twilio error 30003 (undelivered)"
        add(session, bob, INVITATION, "undelivered", sent_at=at(13, 23, 30), last_error=bob_failure)
        add(session, cat, INVITATION, "failed", sent_at=at(15, 8), last_error="Twilio error 30006")
        add(session, cat, NUDGE, "cancelled", due_at=at(16, 8), cancelled_reason=Reason.OPTED_OUT)
        add(session, cat_review, REVIEW_REMINDER, "logged", sent_at=at(16, 7))
        # Not counted: next week, last week (Sunday 23:30 in London), another practice.
        add(
            session,
            ann_review,
            REVIEW_SECOND,
            "cancelled",
            due_at=at(21, 9),
            cancelled_reason=Reason.REPLIED,
        )
        add(session, bob, NUDGE, "sent", sent_at=at(13, 22, 30), body="Bob's own nudge")
        add(session, eve, INVITATION, "delivered", sent_at=at(15, 9))
        add(session, eve, NUDGE, "failed", due_at=at(15, 9), last_error="Twilio error 21211")
    practice.clock.now = NOW
    return Outbox(practice, token)


def signed_in(practice: Practice, email: str) -> TestClient:
    client = client_of(practice)
    assert sign_in(client, email).status_code == 303
    return client


HEADING = r'<span class="nhsuk-table-responsive__heading".*?</span>'


def rows(html: str) -> list[list[str]]:
    """Return a page's table rows as their cells' texts (without the narrow-screen headings)."""
    found = []
    for row in re.findall(r"<tr role=\"row\" class=\"nhsuk-table__row\">(.*?)</tr>", html, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        texts = [re.sub(HEADING, "", cell) for cell in cells]
        if texts:
            found.append([" ".join(re.sub(r"<[^>]+>", " ", text).split()) for text in texts])
    return found


def test_the_record_lists_the_patient_s_texts_newest_first_with_states_and_reasons(
    outbox: Outbox,
) -> None:
    page = signed_in(outbox.practice, CLINICIAN).get(
        f"/clinic/appointments/{outbox.practice.prepared}"
    )
    assert page.status_code == 200
    listed = [row[:4] for row in rows(page.text)]
    assert listed == [
        [
            "Second review reminder",
            "Cancelled",
            "Due 21 Jul 2025 10:00",
            "The patient replied to the first reminder",
        ],
        ["Review reminder", "Waiting to send", "Due 18 Jul 2025 10:00", "-"],
        [
            "Nudge",
            "Failed",
            "Due 15 Jul 2025 11:00",
            FAILURE.replace("<", "&lt;").replace(">", "&gt;"),
        ],
        ["Invitation", "Delivered", "Sent 14 Jul 2025 10:00", "-"],
    ]
    assert "<script>alert(1)</script>" not in page.text
    assert "Hello: http://careprep.test/chat/…" in page.text
    assert outbox.ann_token not in page.text


def test_the_record_shows_why_a_text_was_cancelled_and_not_another_patient_s_texts(
    outbox: Outbox,
) -> None:
    client = signed_in(outbox.practice, CLINICIAN)
    cat = client.get(f"/clinic/appointments/{outbox.practice.unshared}").text
    assert [row[:4] for row in rows(cat)] == [
        ["Nudge", "Cancelled", "Due 16 Jul 2025 09:00", "The patient opted out of text messages"],
        ["Review reminder", "Not sent: no Twilio account", "Logged 16 Jul 2025 08:00", "-"],
        ["Invitation", "Failed", "Sent 15 Jul 2025 09:00", "Twilio error 30006"],
    ]
    assert "Bob" not in cat and "Ann" not in cat
    waiting = client.get(f"/clinic/appointments/{outbox.practice.not_started}").text
    assert "Dan Waiting" in waiting and "Bob&#39;s own nudge" not in waiting
    assert [row[:2] for row in rows(waiting)] == [
        ["Nudge", "Waiting to send"],
        ["Invitation", "Waiting to send"],
    ]


def test_another_practice_s_record_stays_not_found_and_shows_only_its_own_texts(
    outbox: Outbox,
) -> None:
    vale = signed_in(outbox.practice, OTHER)
    assert vale.get(f"/clinic/appointments/{outbox.practice.prepared}").status_code == 404
    eve = vale.get(f"/clinic/appointments/{outbox.practice.elsewhere}").text
    assert [row[:2] for row in rows(eve)] == [["Nudge", "Failed"], ["Invitation", "Delivered"]]


def test_the_admin_counts_this_week_s_texts_of_their_practice_per_kind(outbox: Outbox) -> None:
    page = signed_in(outbox.practice, ADMIN).get("/clinic/messages")
    assert page.status_code == 200
    assert "From Monday 14 July 2025 00:00 to now, Wednesday 16 July 2025 13:00" in page.text
    assert rows(page.text) == [
        ["Invitation", "3", "1", "2", "0", "0", "0"],
        ["Nudge", "0", "0", "1", "0", "1", "0"],
        ["Review reminder", "0", "0", "0", "1", "0", "1"],
        ["Second review reminder", "0", "0", "0", "0", "0", "0"],
        ["All messages", "3", "1", "3", "1", "1", "1"],
    ]
    assert '<a href="/clinic/messages">Messages</a>' in page.text


def test_a_clinician_cannot_open_the_message_counts(outbox: Outbox) -> None:
    clinician = signed_in(outbox.practice, CLINICIAN)
    page = clinician.get("/clinic/messages")
    assert page.status_code == 403
    assert "Only a practice admin can open this page." in page.text
    assert '<a href="/clinic/messages">' not in clinician.get("/clinic/appointments").text


def test_the_message_counts_page_carries_the_portal_s_headers(outbox: Outbox) -> None:
    page = signed_in(outbox.practice, ADMIN).get("/clinic/messages")
    assert page.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text and "style=" not in page.text


def test_the_week_begins_on_monday_at_midnight_in_the_practice_s_zone() -> None:
    assert messages.week_start(NOW, "Europe/London") == datetime(
        2025, 7, 13, 23, 0, tzinfo=timezone.utc
    )
    winter = datetime(2025, 12, 8, 0, 30, tzinfo=timezone.utc)  # a Monday, London on GMT
    assert messages.week_start(winter, "Europe/London") == datetime(
        2025, 12, 8, tzinfo=timezone.utc
    )


def test_the_counts_move_with_now(outbox: Outbox) -> None:
    with session_scope(outbox.practice.settings.database_url) as session:
        hill = session.get(Appointment, outbox.practice.prepared).practice_id
        this = messages.this_week(session, hill, "Europe/London", NOW)
        before = messages.this_week(session, hill, "Europe/London", at(13, 22, 45))
        after = messages.this_week(session, hill, "Europe/London", at(22, 12))
    assert this.total == messages.Tally(
        went_out=3, delivered=1, not_delivered=3, waiting=1, cancelled=1, logged=1
    )
    # Sunday 13 July 23:45 in London: only Bob's nudge went that week.
    assert before.total.went_out == 1 and before.total.delivered == 0
    # The next week: Ann's second review reminder was due, and was cancelled; the review
    # reminder still waiting on Friday is still waiting.
    assert after.total == messages.Tally(waiting=1, cancelled=1)
