"""Simulated patients: whole conversations, many at once, through a real channel.

A ``Channel`` knows how to start one patient's conversation and send one message
through it (Rasa's REST channel, the Twilio-signed SMS webhook, or the web chat
as a browser without JavaScript uses it). ``drive`` runs conversations with a
given number in flight at once and returns every turn's latency; ``measure``
reads the CPU time and memory the servers used meanwhile, from /proc.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiohttp
from twilio.request_validator import RequestValidator

TIMEOUT = aiohttp.ClientTimeout(total=120)
DOB = {"day": "3", "month": "2", "year": "1950"}
"""The simulated patients' date of birth (``bench.run.book`` books them with it)."""


class Conversation(Protocol):
    """One simulated patient's open conversation."""

    async def send(self, text: str) -> str:
        """Send one message; return what came back (raw, for checking it was answered)."""

    async def close(self) -> None:
        """Let go of anything the conversation holds."""


class Channel(Protocol):
    """A way in: starts conversations for booked patients."""

    name: str

    async def open(self, http: aiohttp.ClientSession, patient: Patient) -> Conversation:
        """Return an open conversation for a patient, past any check before the first turn."""


@dataclass(frozen=True)
class Patient:
    """A booked patient: the conversation's Rasa sender id, the link token and the phone."""

    sender: str
    link: str = ""
    phone: str = ""


@dataclass
class RestConversation:
    """A conversation over Rasa's REST channel."""

    url: str
    sender: str
    http: aiohttp.ClientSession

    async def close(self) -> None:
        """Nothing to let go of."""

    async def send(self, text: str) -> str:
        """Post the message as JSON; return the replies."""
        body = {"sender": self.sender, "message": text}
        async with self.http.post(self.url, json=body) as response:
            response.raise_for_status()
            return await response.text()


@dataclass
class Rest:
    """Rasa's REST channel (what the starter assistant is served over)."""

    rasa_url: str
    name: str = "rest"

    async def open(self, http: aiohttp.ClientSession, patient: Patient) -> Conversation:
        """Return the conversation of the patient's sender id."""
        return RestConversation(f"{self.rasa_url}/webhooks/rest/webhook", patient.sender, http)


_SIDS = itertools.count(1)


@dataclass
class SmsConversation:
    """A conversation by text from one phone."""

    url: str
    public_url: str
    validator: RequestValidator
    phone: str
    http: aiohttp.ClientSession

    async def close(self) -> None:
        """Nothing to let go of."""

    async def send(self, text: str) -> str:
        """Post the text as Twilio does, signed; return the TwiML."""
        params = {
            "From": self.phone,
            "To": "+447700900000",
            "Body": text,
            "MessageSid": f"SM{os.getpid():08d}{next(_SIDS):024d}",
            "AccountSid": "AC" + "0" * 32,
            "NumMedia": "0",
        }
        signature = self.validator.compute_signature(self.public_url, params)
        headers = {"X-Twilio-Signature": signature}
        async with self.http.post(self.url, data=params, headers=headers) as response:
            response.raise_for_status()
            return await response.text()


@dataclass
class Sms:
    """The SMS webhook on the Rasa server, each request signed as Twilio signs it."""

    rasa_url: str
    public_url: str
    auth_token: str
    name: str = "sms"

    async def open(self, http: aiohttp.ClientSession, patient: Patient) -> Conversation:
        """Return the conversation of the patient's phone."""
        path = "/webhooks/sms/webhook"
        validator = RequestValidator(self.auth_token)
        return SmsConversation(
            self.rasa_url + path, self.public_url + path, validator, patient.phone, http
        )


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class WebConversation:
    """A conversation in one browser's chat page."""

    url: str
    csrf: str
    http: aiohttp.ClientSession

    async def send(self, text: str) -> str:
        """Post the reply as the page's script does; return the new messages."""
        form = {"csrf_token": self.csrf, "typed": text}
        headers = {"x-careprep-chat": "1"}
        async with self.http.post(self.url, data=form, headers=headers) as response:
            response.raise_for_status()
            return await response.text()

    async def close(self) -> None:
        """Close the browser."""
        await self.http.close()


@dataclass
class WebChat:
    """The web chat: the link, the date-of-birth check, then each reply posted as the page does."""

    web_url: str
    name: str = "web"

    async def open(self, http: aiohttp.ClientSession, patient: Patient) -> Conversation:
        """Open the link in a new browser and pass the date-of-birth check."""
        # Each patient is its own browser: a session of its own, with its own cookies.
        browser = aiohttp.ClientSession(
            timeout=TIMEOUT,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=http.connector,
            connector_owner=False,
        )
        url = f"{self.web_url}/chat/{patient.link}"
        async with browser.get(url) as response:
            csrf = _csrf_of(await response.text())
        async with browser.post(f"{url}/check", data={**DOB, "csrf_token": csrf}) as response:
            response.raise_for_status()
            csrf = _csrf_of(await response.text())
        return WebConversation(url, csrf, browser)


def _csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    if found is None:
        raise RuntimeError("bench: the chat page has no form")
    return found.group(1)


def answered(reply: str) -> bool:
    """Whether a reply holds a message: REST's JSON list, SMS's TwiML, the web chat's entries."""
    return (
        reply.strip() not in ("[]", "")
        and "<Response/>" not in reply
        and '"entries":""' not in reply
    )


@dataclass
class Load:
    """What one load run measured."""

    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    empty_replies: int = 0

    @property
    def turns(self) -> int:
        """How many messages were answered."""
        return len(self.latencies_ms)

    def percentile(self, share: float) -> float:
        """Return the latency below which ``share`` of the turns were answered, in ms."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))]

    @property
    def per_second(self) -> float:
        """Return the turns answered a second over the run."""
        return self.turns / self.seconds


async def _drive(
    channel: Channel,
    patients: Sequence[Patient],
    script: Callable[[Patient], Sequence[str]],
    concurrency: int,
) -> Load:
    load = Load()
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency * 2, force_close=False)
    async with aiohttp.ClientSession(timeout=TIMEOUT, connector=connector) as http:

        async def one(patient: Patient) -> None:
            async with slots:
                conversation = await channel.open(http, patient)
                for text in script(patient):
                    sent = time.perf_counter()
                    reply = await conversation.send(text)
                    load.latencies_ms.append((time.perf_counter() - sent) * 1000)
                    if not answered(reply):
                        load.empty_replies += 1
                await conversation.close()

        started = time.perf_counter()
        await asyncio.gather(*(one(patient) for patient in patients))
        load.seconds = time.perf_counter() - started
    return load


def drive(
    channel: Channel,
    patients: Sequence[Patient],
    script: Callable[[Patient], Sequence[str]],
    concurrency: int,
) -> Load:
    """Run every patient's script through a channel, ``concurrency`` conversations at once."""
    return asyncio.run(_drive(channel, patients, script, concurrency))


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process and its reaped children have used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_megabytes(pid: int) -> float:
    """Return the resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Measured:
    """A load run with the CPU each server spent and the most memory each held meanwhile."""

    load: Load
    cpu_ms_per_turn: dict[str, float]
    peak_rss_mb: dict[str, float]


def measure(
    processes: dict[str, int], run: Callable[[], Load], sample_every: float = 0.2
) -> Measured:
    """Run a load, reading the named processes' CPU time around it and their memory during it."""
    peaks = {name: rss_megabytes(pid) for name, pid in processes.items()}
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            for name, pid in processes.items():
                peaks[name] = max(peaks[name], rss_megabytes(pid))
            await asyncio.sleep(sample_every)

    async def both() -> Load:
        sampler = asyncio.create_task(sample())
        try:
            return await asyncio.to_thread(run)
        finally:
            done.set()
            await sampler

    load = asyncio.run(both())
    after = {name: cpu_seconds(pid) for name, pid in processes.items()}
    per_turn = {name: (after[name] - before[name]) * 1000 / load.turns for name in processes}
    return Measured(load, per_turn, peaks)
