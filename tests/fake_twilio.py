"""A local HTTP server that speaks Twilio's Messages API, and a pytest fixture that runs it.

Load the fixture in a test module with ``pytest_plugins = ["tests.fake_twilio"]``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from careprep.settings import Settings
from tests.factories import make_settings

MESSAGES_PATH = "/2010-04-01/Accounts/{}/Messages.json"
REQUIRED = {
    "To": (21604, "A 'To' phone number is required."),
    "From": (21603, "A 'From' phone number is required."),
    "Body": (21602, "Message body is required."),
}


@dataclass(frozen=True)
class Received:
    """One request as the fake received it."""

    path: str
    form: dict[str, str]
    authorised: bool
    status: int
    sid: str | None
    at: float = 0.0
    """``time.monotonic()`` when the request arrived."""


@dataclass
class Failure:
    """A scripted error response."""

    status: int
    code: int
    message: str


@dataclass
class FakeTwilio:
    """Twilio's ``POST .../Messages.json``, on 127.0.0.1, scriptable to fail."""

    account_sid: str = "AC" + "a1" * 16
    auth_token: str = "fake-auth-token"
    received: list[Received] = field(default_factory=list)
    delay_seconds: float = 0.0
    max_in_flight: int = 0
    """The most requests the fake was answering at one time."""
    _in_flight: int = 0
    _failures: list[Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        """The base URL to give as ``TWILIO_API_BASE_URL``."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def messages(self) -> list[dict[str, str]]:
        """The form fields of every message the fake accepted."""
        return [request.form for request in self.received if request.sid]

    def fail_next(
        self, times: int, status: int, code: int | None = None, message: str = ""
    ) -> None:
        """Answer the next ``times`` requests with this HTTP status and Twilio error."""
        failure = Failure(status, code or 20000 + status, message or f"Error {status}")
        with self._lock:
            self._failures.extend([failure] * times)

    def settings(self, tmp_path: Path, **overrides: Any) -> Settings:
        """Settings for a careprep that sends through this fake."""
        values: dict[str, Any] = {
            "public_url": "https://careprep.example",
            "twilio_account_sid": self.account_sid,
            "twilio_auth_token": self.auth_token,
            "twilio_from_number": "+447700900999",
            "twilio_api_base_url": self.base_url,
        }
        return make_settings(
            f"sqlite:///{tmp_path / 'careprep.db'}", tmp_path / "var", **{**values, **overrides}
        )

    def start(self) -> None:
        """Serve on a free port in a background thread."""
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        serve = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        serve.start()

    def stop(self) -> None:
        """Stop serving."""
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def answer(
        self, path: str, authorization: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Record a request and return the status and JSON that Twilio would answer it with."""
        arrived = time.monotonic()
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        time.sleep(self.delay_seconds)
        credentials = f"{self.account_sid}:{self.auth_token}".encode()
        authorised = authorization == "Basic " + base64.b64encode(credentials).decode()
        authorised = authorised and path == MESSAGES_PATH.format(self.account_sid)
        missing = [REQUIRED[name] for name in REQUIRED if not form.get(name)]
        with self._lock:
            if not authorised:
                status, payload = 401, _error(401, 20003, "Authenticate")
            elif self._failures:
                failure = self._failures.pop(0)
                status, payload = failure.status, _error(**vars(failure))
            elif missing:
                status, payload = 400, _error(400, *missing[0])
            else:
                status, payload = 201, self._message(form)
            sid = payload.get("sid")
            self.received.append(Received(path, form, authorised, status, sid, arrived))
            self._in_flight -= 1
        return status, payload

    def _message(self, form: dict[str, str]) -> dict[str, Any]:
        """Return the Message resource Twilio creates for an accepted request."""
        sid = "SM" + secrets.token_hex(16)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        now = formatdate(usegmt=True)
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form["To"],
            "from": form["From"],
            "body": form["Body"],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "num_segments": "1",
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "uri": f"{uri}.json",
            "subresource_uris": {"media": f"{uri}/Media.json"},
        }


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # several workers' requests in flight at once
    daemon_threads = True


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    """Return an error as Twilio's REST API writes it."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Twilio's API keeps connections open
        disable_nagle_algorithm = True  # headers and body go at once, not 40 ms apart

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            pairs = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
            form = {name: values[-1] for name, values in pairs.items()}
            status, payload = fake.answer(self.path, self.headers.get("Authorization", ""), form)
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A running fake Twilio; its ``received`` and ``messages`` show what it was sent."""
    fake = FakeTwilio()
    fake.start()
    yield fake
    fake.stop()
