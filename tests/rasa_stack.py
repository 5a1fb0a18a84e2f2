"""careprep's Rasa servers as the tests drive them: Twilio-signed texts, bookings, the CLI.

Starting and stopping the servers is ``careprep.supervisor.RasaServers``, the same code
that ``careprep up`` and the bench use; what is here is only what a test needs on top.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twilio.request_validator import RequestValidator

from careprep.preparation.progress import find_by_sender
from careprep.record import build_record, to_json
from careprep.store import session_scope
from careprep.store.models import Appointment
from careprep.supervisor import RasaServers, free_ports
from tests.factories import book

ROOT = Path(__file__).resolve().parents[1]
TWILIO_AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://careprep.example.org"
"""Where Twilio thinks the server is (behind a proxy); requests are signed for this URL."""
SMS_WEBHOOK = "/webhooks/sms/webhook"
_MESSAGE_SIDS = itertools.count(1)


@dataclass
class SmsReply:
    """What Twilio gets back from the SMS webhook."""

    status: int
    body: str

    @property
    def texts(self) -> list[str]:
        if self.status != 200:
            return []
        return [message.text or "" for message in ElementTree.fromstring(self.body).iter("Message")]

    @property
    def last(self) -> str:
        return self.texts[-1] if self.texts else ""


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on now."""
    [port] = free_ports(1)
    return port


def new_message_sid() -> str:
    return f"SM{next(_MESSAGE_SIDS):032x}"


def sign(params: dict[str, str], url: str = PUBLIC_URL + SMS_WEBHOOK) -> str:
    """Sign a webhook request exactly as Twilio does."""
    return str(RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params))


@dataclass
class RasaStack(RasaServers):
    """The two Rasa processes of careprep, with a Twilio auth token, behind a public URL."""

    root: Path = ROOT
    environment: dict[str, str] = field(
        default_factory=lambda: {
            "CAREPREP_WEB_URL": "http://careprep.test",
            "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            "PUBLIC_URL": PUBLIC_URL,
        }
    )

    def invite(self, **patient: Any) -> str:
        """Book an appointment; return the invite token (the conversation's sender id)."""
        with session_scope(self.database_url) as session:
            return str(book(session, **patient).preparation.invite_token)

    def appointment_id(self, token: str) -> int:
        with session_scope(self.database_url) as session:
            preparation = find_by_sender(session, token)
            assert preparation is not None
            return int(preparation.appointment_id)

    def link_of(self, appointment_id: int) -> tuple[str, str]:
        """Return the appointment's invitation link token and its conversation's sender id."""
        with session_scope(self.database_url) as session:
            appointment = session.get(Appointment, appointment_id)
            assert appointment is not None
            return appointment.preparation.link_token, appointment.preparation.invite_token

    def post_sms(
        self, params: dict[str, str], signature: str | None = None, path: str = SMS_WEBHOOK
    ) -> SmsReply:
        """POST form fields to the SMS webhook, with the given X-Twilio-Signature (if any)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        request = urllib.request.Request(
            f"{self.rasa_url}{path}",
            data=urllib.parse.urlencode(params).encode(),
            headers=headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return SmsReply(response.status, response.read().decode())
        except urllib.error.HTTPError as refused:
            return SmsReply(refused.code, refused.read().decode())

    def sms(self, phone: str, body: str, message_sid: str | None = None) -> SmsReply:
        """Send a text from a phone, signed as Twilio signs it."""
        params = {
            "From": phone,
            "To": "+447700900000",
            "Body": body,
            "MessageSid": message_sid or new_message_sid(),
            "AccountSid": "AC" + "0" * 32,
            "NumMedia": "0",
        }
        return self.post_sms(params, sign(params))

    def export_by_appointment(self, appointment_id: int, form: str = "text") -> str:
        result = self.careprep("export", str(appointment_id), "--format", form)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def careprep(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).with_name("careprep")), *args],
            capture_output=True,
            text=True,
            env=self.env,
        )

    def export(self, token: str, form: str = "text") -> str:
        return self.export_by_appointment(self.appointment_id(token), form)

    def stored(self, appointment_id: int, field: str = "value") -> dict[str, object]:
        """Return each question's stored value (or state) as the record has it.

        Read from the store, not from ``careprep export``: until the patient agrees to
        share, the export rightly withholds the answers.
        """
        with session_scope(self.database_url) as session:
            record = build_record(session, appointment_id, "Europe/London", compare=False)
            assert record is not None
            sections = to_json(record)["sections"]
        return {section["question_id"]: section[field] for section in sections}
