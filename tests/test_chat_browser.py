"""The web chat in a real browser at 320 px, with and without JavaScript, on the real Rasa stack.

The web app runs as ``careprep up`` runs it, on the Rasa stack's store and talking to its
Rasa server. With JavaScript every page of the chat is checked with axe-core (no serious
or critical WCAG 2.1 A/AA violation) and for sideways scrolling, and a reply must not
reload the page and must leave focus in the reply box; without JavaScript the same
preparation is done by ordinary form posts. Screenshots are kept under
var/browser-results/.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from careprep.preparation import messages
from careprep.preparation.questionnaire import question
from careprep.store import session_scope
from tests.browser import check_page, check_text_zoom, chromium, narrow_page, web_app
from tests.factories import book
from tests.rasa_stack import RasaStack
from tests.test_sms import booked, verified

pytestmark = pytest.mark.rasa


@pytest.fixture(scope="module")
def chat_site(rasa: RasaStack) -> Iterator[str]:
    environment = {
        "DATABASE_URL": rasa.database_url,
        "CAREPREP_VAR_DIR": str(rasa.workdir / "web-var"),
        "CAREPREP_RASA_URL": rasa.rasa_url,
    }
    with web_app(environment) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class Chat:
    """One patient in the browser: each step waits for the answer, by reload or by script."""

    def __init__(self, page: Any, javascript: bool, name: str) -> None:
        self.page = page
        self.javascript = javascript
        self.name = name
        self.checked: set[str] = set()

    def check(self, step: str) -> None:
        if self.javascript and step not in self.checked:
            self.checked.add(step)
            check_page(self.page, f"chat-{step}")

    def _send(self, act: Callable[[], None]) -> None:
        if not self.javascript:
            with self.page.expect_navigation():
                act()
            return
        url = self.page.url
        before = self.page.locator("#chat-list > li").count()
        act()
        self.page.wait_for_function(
            "n => document.querySelectorAll('#chat-list > li').length > n "
            "&& !document.querySelector('#chat-form[aria-busy=\"true\"]')",
            arg=before,
        )
        assert self.page.url == url, "a reply must not leave the page"
        focused = self.page.evaluate("() => document.activeElement && document.activeElement.id")
        assert focused == "reply", "focus stays in the reply box"

    def latest(self) -> list[str]:
        texts = self.page.locator("#chat-list > li .careprep-chat__text").all_inner_texts()
        kinds = self.page.locator("#chat-list > li").evaluate_all(
            "items => items.map(i => i.classList.contains('careprep-chat__message--patient'))"
        )
        last = max((n for n, mine in enumerate(kinds) if mine), default=-1)
        return texts[last + 1 :]

    def asks(self, question_id: str) -> bool:
        return any(question(question_id).text in text for text in self.latest())

    def say(self, text: str) -> None:
        self.page.fill("#reply", text)
        self._send(lambda: self.page.click("#send"))

    def say_with_the_keyboard(self, text: str) -> None:
        """Type in the reply box, Tab to Send, press Enter: no mouse."""
        self.page.focus("#reply")
        self.page.keyboard.type(text)

        def send() -> None:
            self.page.keyboard.press("Tab")
            assert self.page.evaluate("() => document.activeElement.id") == "send"
            self.page.keyboard.press("Enter")

        self._send(send)

    def press(self, value: str) -> None:
        self._send(lambda: self.page.click(f'button[name="message"][value="{value}"]'))

    def tick(self, *numbers: int, typed: str = "") -> None:
        for number in numbers:
            self.page.check(f"#choice-{number}")
        if typed:
            self.page.fill("#reply", typed)
        self._send(lambda: self.page.click("#send"))


def open_with_the_keyboard(chat: Chat, url: str) -> None:
    page = chat.page
    page.goto(url)
    chat.check("date-of-birth")
    page.focus("#dob-day")
    for part in ("3", "2", "1950"):
        page.keyboard.type(part)
        page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without"])
def test_a_whole_preparation_at_320_px(
    rasa: RasaStack, chat_site: str, browser: Any, javascript: bool
) -> None:
    with session_scope(rasa.database_url) as session:
        appointment = book(session, name="Vera Browser")
        link, appointment_id = appointment.preparation.link_token, appointment.id
    with narrow_page(browser, javascript) as page:
        chat = Chat(page, javascript, "Vera")
        open_with_the_keyboard(chat, f"{chat_site}/chat/{link}")
        assert chat.asks("consent_start")
        chat.check("start")
        if javascript:
            check_text_zoom(page, "chat-start")
        chat.press("Yes")
        chat.say("My grandchildren and my garden")
        chat.press("WHY")
        assert chat.latest()[0] == question("going_well").reason
        chat.say("I walk to church every Sunday")
        page.reload()  # a reload mid-way keeps the whole conversation
        assert chat.asks("not_going_well")
        chat.press("SKIP")
        assert chat.asks("good_day")
        chat.press("BACK")
        assert chat.asks("not_going_well")
        chat.say("My knees hurt on the stairs")
        chat.press("HELP")
        assert "SKIP - skip a question" in chat.latest()[0]
        chat.press("PAUSE")
        chat.say("hello")
        assert chat.latest()[0] == messages.WELCOME_BACK
        chat.say_with_the_keyboard("No pain and a visit from my son")
        chat.say("Walk to the shops without stopping")
        chat.say("no")
        assert chat.asks("topics")
        chat.check("multi-choice")
        chat.tick(2, 4, typed="my knees")
        chat.say("Can I take ibuprofen with my tablets?")
        chat.say("My daughter Jo")
        chat.say("I'm feeling hopeless and I want to end my life")
        assert chat.latest()[0] == messages.SAFETY_REPLIES["mental_health"]
        assert page.locator('a[href="tel:116123"]').count() >= 1
        chat.check("safety")
        chat.say("hello")
        chat.say("6")
        chat.tick(4)
        chat.press("Every 6 months")
        assert "Here is what you told me" in chat.latest()[-1]
        chat.check("read-back")
        chat.press("YES")
        chat.press("Yes")
        assert chat.latest() == [messages.COMPLETE_SHARED]
        assert page.locator("text=What happens next").is_visible()
        chat.check("finished")

    record = json.loads(rasa.export_by_appointment(appointment_id, "json"))
    assert record["preparation_status"] == "complete" and record["channels"] == ["web"]
    values = rasa.stored(appointment_id)
    assert values["what_matters"] == "My grandchildren and my garden"
    assert values["going_well"] == "I walk to church every Sunday"
    assert values["topics"] == ["Pain", "Sleep", "my knees"]
    assert values["confidence"] == 6
    levels = [flag["level"] for flag in record["safety_flags"]]
    assert levels == ["mental_health"]


def test_started_by_sms_and_finished_in_the_browser(
    rasa: RasaStack, chat_site: str, browser: Any
) -> None:
    phone, appointment_id = booked(rasa)
    verified(rasa, phone)
    rasa.sms(phone, "yes")
    rasa.sms(phone, "My allotment")
    link, _ = rasa.link_of(appointment_id)
    with narrow_page(browser) as page:
        chat = Chat(page, True, "sms")
        open_with_the_keyboard(chat, f"{chat_site}/chat/{link}")
        assert page.locator("text=You, by text message").count() >= 2
        assert chat.asks("going_well")
        for text in ("Gardening", "Stairs", "A walk", "Sleep well", "no"):
            chat.say(text)
        chat.tick(1)
        for text in ("None", "My wife", "7"):
            chat.say(text)
        chat.tick(1)
        chat.press("Every 12 months")
        chat.press("YES")
        chat.press("No")
        assert chat.latest() == [messages.COMPLETE_PRIVATE]
    exported = rasa.export_by_appointment(appointment_id)
    assert "answered by SMS and web chat" in exported
    assert "has not agreed to share their answers" in exported
    assert rasa.stored(appointment_id)["what_matters"] == "My allotment"


def test_a_closed_link_a_wrong_date_and_a_stopped_link_are_accessible(
    rasa: RasaStack, chat_site: str, browser: Any
) -> None:
    with session_scope(rasa.database_url) as session:
        link = book(session, name="Una Known").preparation.link_token
    with narrow_page(browser) as page:
        page.goto(f"{chat_site}/chat/not-a-real-link")
        assert page.locator("h1").inner_text() == "This link does not work"
        check_page(page, "chat-closed")
        page.goto(f"{chat_site}/chat/{link}")
        check_text_zoom(page, "chat-date-of-birth")
        for year in ("1951", "1952", "1953"):
            page.fill("#dob-day", "3")
            page.fill("#dob-month", "2")
            page.fill("#dob-year", year)
            with page.expect_navigation():
                page.click("button[type=submit]")
            if year == "1951":
                assert page.locator(".nhsuk-error-summary").is_visible()
                check_page(page, "chat-date-of-birth-wrong")
        assert page.locator("h1").inner_text() == "Please contact your practice"
        check_page(page, "chat-stopped")
