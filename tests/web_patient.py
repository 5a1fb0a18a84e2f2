"""A patient using the web chat without JavaScript, through the web app's real HTTP interface."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from careprep.store import session_scope
from tests.factories import book, make_settings
from tests.rasa_stack import RasaStack
from web.app import create_app

DOB = {"day": "3", "month": "2", "year": "1950"}

_ENTRY = re.compile(
    r'<li class="careprep-chat__message careprep-chat__message--(patient|careprep)"[^>]*>\s*'
    r'<p class="careprep-chat__who">([^<]*)</p>\s*<p class="careprep-chat__text">(.*?)</p>\s*</li>',
    re.S,
)


def plain(fragment: str) -> str:
    """Return HTML as the text a reader sees (tags dropped, line breaks kept)."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment.replace("<br>\n", "\n")))


@dataclass
class Entry:
    by_patient: bool
    who: str
    text: str


@dataclass
class WebPatient:
    """One browser on one patient's invitation link, talking to the real Rasa stack."""

    client: TestClient
    link: str
    sender_id: str
    appointment_id: int
    page: str = ""

    @classmethod
    def booked(cls, stack: RasaStack, var_dir: Path, **patient: object) -> WebPatient:
        """Book an appointment and return a browser on its link (not yet checked)."""
        with session_scope(stack.database_url) as session:
            appointment = book(session, **patient)  # type: ignore[arg-type]
            preparation = appointment.preparation
            link, sender, appointment_id = (
                preparation.link_token,
                preparation.invite_token,
                appointment.id,
            )
        return cls.on(stack, var_dir, link, sender, appointment_id)

    @classmethod
    def on(
        cls, stack: RasaStack, var_dir: Path, link: str, sender_id: str, appointment_id: int
    ) -> WebPatient:
        """Return a new browser on an existing link."""
        settings = make_settings(stack.database_url, var_dir, rasa_url=stack.rasa_url)
        client = TestClient(create_app(settings), follow_redirects=True)
        return cls(client, link, sender_id, appointment_id)

    @property
    def csrf(self) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.page)
        assert found, "the page has no form"
        return found.group(1)

    def open(self) -> str:
        """Open the link and pass the date-of-birth check; return the chat page."""
        self.page = self.client.get(f"/chat/{self.link}").text
        assert "What is your date of birth?" in self.page
        answer = self.client.post(f"/chat/{self.link}/check", data={**DOB, "csrf_token": self.csrf})
        assert answer.status_code == 200, answer.text
        self.page = answer.text
        return self.page

    def reload(self) -> str:
        self.page = self.client.get(f"/chat/{self.link}").text
        return self.page

    def post(self, **fields: object) -> str:
        answer = self.client.post(f"/chat/{self.link}", data={"csrf_token": self.csrf, **fields})
        assert answer.status_code == 200, answer.text
        self.page = answer.text
        return self.page

    def say(self, text: str) -> str:
        """Type a reply and press Send."""
        return self.post(typed=text)

    def press(self, value: str) -> str:
        """Press a button (an option, a command, a read-back part)."""
        assert re.search(rf'name="message" value="{re.escape(value)}"', self.page), (
            f"no button {value!r} on the page"
        )
        return self.post(message=value)

    def tick(self, *numbers: int, typed: str = "") -> str:
        """Tick the numbered boxes of a multi-choice question, type anything else, Send."""
        for number in numbers:
            assert f'id="choice-{number}"' in self.page, f"no box {number}"
        return self.post(choice=[str(number) for number in numbers], typed=typed)

    def entries(self) -> list[Entry]:
        return [
            Entry(kind == "patient", html.unescape(who), plain(text))
            for kind, who, text in _ENTRY.findall(self.page)
        ]

    def latest(self) -> list[str]:
        """What careprep said after the patient's last message."""
        entries = self.entries()
        last = max((n for n, entry in enumerate(entries) if entry.by_patient), default=-1)
        return [entry.text for entry in entries[last + 1 :]]
