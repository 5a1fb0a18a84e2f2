"""A real Rasa server and action server on free ports, with the trained model and a real store."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from twilio.request_validator import RequestValidator

from bot.model import rasa_command, train_if_needed
from careprep.store import session_scope
from careprep.store.migrate import upgrade
from tests.factories import book

ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 240
TWILIO_AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://careprep.example.org"
"""Where Twilio thinks the server is (behind a proxy); requests are signed for this URL."""
SMS_WEBHOOK = "/webhooks/sms/webhook"
_MESSAGE_SIDS = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    """What the patient sees after one message."""

    texts: list[str]
    buttons: list[list[str]]

    @property
    def last(self) -> str:
        return self.texts[-1] if self.texts else ""

    def __contains__(self, words: str) -> bool:
        return any(words in text for text in self.texts)


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


def new_message_sid() -> str:
    return f"SM{next(_MESSAGE_SIDS):032x}"


def sign(params: dict[str, str], url: str = PUBLIC_URL + SMS_WEBHOOK) -> str:
    """Sign a webhook request exactly as Twilio does."""
    return str(RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params))


@dataclass
class RasaStack:
    """The two Rasa processes of careprep, started from the real command lines."""

    database_url: str
    workdir: Path
    model: Path = field(default_factory=lambda: train_if_needed(ROOT))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    rasa_port: int = 0

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "CAREPREP_VAR_DIR": str(self.workdir / "var"),
            "CAREPREP_WEB_URL": "http://careprep.test",
            "RASA_TELEMETRY_ENABLED": "false",
            "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            "PUBLIC_URL": PUBLIC_URL,
        }

    def start(self) -> None:
        upgrade(self.database_url)
        actions_port, self.rasa_port = free_port(), free_port()
        endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text())
        endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{actions_port}/webhook"
        endpoints_file = self.workdir / "endpoints.yml"
        endpoints_file.write_text(yaml.safe_dump(endpoints))
        commands = {
            "actions": rasa_command(
                "run", "actions", "--actions", "bot.actions", "--port", str(actions_port)
            ),
            "rasa": rasa_command(
                "run",
                "--model",
                str(self.model),
                "--endpoints",
                str(endpoints_file),
                "--credentials",
                str(ROOT / "credentials.yml"),
                "--port",
                str(self.rasa_port),
            ),
        }
        for name, command in commands.items():
            log = (self.workdir / f"{name}.log").open("ab")
            self.processes.append(
                subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
            )
        self._wait(f"http://127.0.0.1:{actions_port}/health")
        self._wait(f"http://127.0.0.1:{self.rasa_port}/")

    def _wait(self, url: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self.processes):
                break
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(1)
        logs = "\n".join(path.read_text()[-3000:] for path in sorted(self.workdir.glob("*.log")))
        self.stop()
        raise RuntimeError(f"{url} did not come up:\n{logs}")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    def restart(self) -> None:
        self.stop()
        self.start()

    def invite(self, **patient: Any) -> str:
        """Book an appointment; return the invite token (the conversation's sender id)."""
        with session_scope(self.database_url) as session:
            return str(book(session, **patient).preparation.invite_token)

    def appointment_id(self, token: str) -> int:
        from careprep.preparation.progress import find_by_sender

        with session_scope(self.database_url) as session:
            preparation = find_by_sender(session, token)
            assert preparation is not None
            return int(preparation.appointment_id)

    def say(self, sender: str, text: str) -> Reply:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook",
            data=json.dumps({"sender": sender, "message": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            messages = json.loads(response.read())
        return Reply(
            texts=[message.get("text", "") for message in messages],
            buttons=[
                [button["title"] for button in message.get("buttons", [])] for message in messages
            ],
        )

    def post_sms(
        self, params: dict[str, str], signature: str | None = None, path: str = SMS_WEBHOOK
    ) -> SmsReply:
        """POST form fields to the SMS webhook, with the given X-Twilio-Signature (if any)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rasa_port}{path}",
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
