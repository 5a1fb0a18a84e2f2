"""Twilio delivering a message again: answered once, and answered even when its turn died.

The channel runs on Sanic, registered as the Rasa server registers it, and gets real HTTP
requests signed as Twilio signs them; a stand-in for Rasa's agent (the one thing Rasa gives the
channel) plays the turns, so that a turn can die, hang or take its time on cue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic
from sanic.server.async_server import AsyncioServer
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from careprep.settings import Settings
from careprep.store import session_scope
from careprep.store.models import InboundSms
from integrations.sms.channel import SmsInput
from integrations.sms.inbound import claim
from tests.rasa_stack import free_port

AUTH_TOKEN = "test-auth-token-retries"
WEBHOOK = "/webhooks/sms/webhook"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'

Turn = Callable[[UserMessage], Awaitable[None]]

Sanic.test_mode = True
"""Sanic's switch for starting several apps in one process, as these tests do."""


async def echo(message: UserMessage) -> None:
    """A turn that answers."""
    await message.output_channel.send_text_message(message.sender_id, f"You said: {message.text}")


async def action_server_gone(message: UserMessage) -> None:
    """A turn that raises, as Rasa does when its tracker store or the network fails."""
    raise ConnectionResetError("the action server went away")


async def hangs(message: UserMessage) -> None:
    """A turn that never ends (until its process dies)."""
    await asyncio.Event().wait()


def waits_for(go: threading.Event) -> Turn:
    """A turn that answers once the test says so."""

    async def turn(message: UserMessage) -> None:
        await asyncio.to_thread(go.wait, 30)
        await echo(message)

    return turn


def takes(seconds: float) -> Turn:
    """A turn that answers after a while."""

    async def turn(message: UserMessage) -> None:
        await asyncio.sleep(seconds)
        await echo(message)

    return turn


@dataclass
class Assistant:
    """Stands in for Rasa's agent: message n runs turn n (the last turn repeats)."""

    turns: list[Turn]
    received: list[str] = field(default_factory=list)

    async def handle_message(self, message: UserMessage) -> None:
        """Run the next turn for this message."""
        self.received.append(message.text)
        await self.turns[min(len(self.received), len(self.turns)) - 1](message)


@dataclass(frozen=True)
class Delivery:
    """What Twilio got back for one delivery of a message."""

    status: int
    body: str


class ChannelServer:
    """Our SMS channel on a Sanic server of its own (one Rasa server), in a background thread."""

    def __init__(self, channel: SmsInput, assistant: Assistant) -> None:
        self.app = Sanic(f"sms_{uuid.uuid4().hex}")
        register([channel], self.app, "/webhooks/")
        self.app.ctx.agent = assistant
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: AsyncioServer | None = None

    def start(self) -> None:
        """Serve on a free port."""
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)

    async def _serve(self) -> AsyncioServer:
        server = await self.app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False
        )
        assert server is not None
        await server.startup()
        await server.start_serving()
        return server

    def stop(self) -> None:
        """Stop serving, as a server that shuts down cleanly does."""
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def die(self) -> None:
        """Stop dead, as a killed process does: nothing it was doing runs another step."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def deliver(self, params: dict[str, str], public_url: str, timeout: float = 30) -> Delivery:
        """POST a message to the webhook, signed as Twilio signs it."""
        signature = RequestValidator(AUTH_TOKEN).compute_signature(public_url + WEBHOOK, params)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{WEBHOOK}",
            data=urllib.parse.urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Delivery(response.status, response.read().decode())
        except urllib.error.HTTPError as refused:
            return Delivery(refused.code, refused.read().decode())


@pytest.fixture
def channel_settings(settings: Settings) -> Settings:
    """Settings with a Twilio auth token, so that every request must be signed."""
    return replace(settings, twilio_auth_token=AUTH_TOKEN)


@pytest.fixture
def serve(channel_settings: Settings) -> Iterator[Callable[..., ChannelServer]]:
    """Start channel servers on the test store; each is stopped at the end unless it died."""
    servers: list[ChannelServer] = []

    def start(*turns: Turn, **timings: Any) -> ChannelServer:
        server = ChannelServer(SmsInput(channel_settings, **timings), Assistant(list(turns)))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def a_message(text: str = "My family") -> dict[str, str]:
    """Form fields of an inbound SMS, with a new MessageSid."""
    return {
        "From": "+447700900321",
        "To": "+447700900000",
        "Body": text,
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
    }


def reply_of(delivery: Delivery) -> str:
    assert delivery.status == 200, delivery
    return delivery.body


def received(server: ChannelServer) -> list[str]:
    assistant = server.app.ctx.agent
    assert isinstance(assistant, Assistant)
    return assistant.received


def wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def attempts(settings: Settings, sid: str) -> int:
    with session_scope(settings.database_url) as session:
        return int(
            session.execute(
                select(InboundSms.attempts).where(InboundSms.message_sid == sid)
            ).scalar_one()
        )


def test_a_turn_that_failed_is_run_again_when_twilio_delivers_the_message_again(
    serve: Callable[..., ChannelServer], channel_settings: Settings
) -> None:
    server = serve(action_server_gone, echo)
    message = a_message()

    failed = server.deliver(message, channel_settings.public_url)
    retried = server.deliver(message, channel_settings.public_url)

    assert failed.status == 503
    assert "<Message>You said: My family</Message>" in reply_of(retried)
    assert received(server) == ["My family", "My family"]
    assert attempts(channel_settings, message["MessageSid"]) == 2


def test_rasa_carrying_on_after_an_action_failed_counts_as_a_failed_turn(
    serve: Callable[..., ChannelServer], channel_settings: Settings
) -> None:
    async def action_failed_and_rasa_carried_on(message: UserMessage) -> None:
        try:
            raise ConnectionRefusedError("the action server is not there")
        except ConnectionRefusedError:
            logging.getLogger("rasa.core.processor").exception("Encountered an exception")
        await message.output_channel.send_text_message(message.sender_id, "half a turn")

    server = serve(action_failed_and_rasa_carried_on, echo)
    message = a_message()

    failed = server.deliver(message, channel_settings.public_url)
    retried = server.deliver(message, channel_settings.public_url)

    assert failed.status == 503 and "half a turn" not in failed.body
    assert "<Message>You said: My family</Message>" in reply_of(retried)


def test_a_turn_whose_process_died_is_taken_over_once_its_lease_runs_out(
    serve: Callable[..., ChannelServer], channel_settings: Settings
) -> None:
    lease = timedelta(seconds=1)
    dying = serve(hangs, turn_lease=lease)
    other = serve(echo, turn_lease=lease, reply_wait=5)
    message = a_message()
    first = ThreadPoolExecutor(1).submit(
        dying.deliver, message, channel_settings.public_url, timeout=3
    )
    wait_until(lambda: received(dying) == ["My family"])

    dying.die()
    retried = other.deliver(message, channel_settings.public_url)

    assert "<Message>You said: My family</Message>" in reply_of(retried)
    assert received(other) == ["My family"]
    assert attempts(channel_settings, message["MessageSid"]) == 2
    with pytest.raises(TimeoutError):
        first.result()


def test_a_slow_turn_that_is_alive_keeps_its_claim(
    serve: Callable[..., ChannelServer], channel_settings: Settings
) -> None:
    lease = timedelta(seconds=1)
    slow = serve(takes(2.5), turn_lease=lease)
    other = serve(echo, turn_lease=lease, reply_wait=5)
    message = a_message()
    first = ThreadPoolExecutor(1).submit(slow.deliver, message, channel_settings.public_url)
    wait_until(lambda: received(slow) == ["My family"])

    retried = other.deliver(message, channel_settings.public_url)

    assert reply_of(retried) == reply_of(first.result())
    assert "You said: My family" in retried.body
    assert received(other) == []


def test_a_delivery_during_the_turn_gets_the_same_reply_not_a_second_turn(
    serve: Callable[..., ChannelServer], channel_settings: Settings
) -> None:
    go = threading.Event()
    server = serve(waits_for(go))
    message = a_message()
    pool = ThreadPoolExecutor(2)
    first = pool.submit(server.deliver, message, channel_settings.public_url)
    wait_until(lambda: received(server) == ["My family"])
    again = pool.submit(server.deliver, message, channel_settings.public_url)
    time.sleep(0.5)

    go.set()

    assert "<Message>You said: My family</Message>" in reply_of(first.result())
    assert reply_of(again.result()) == first.result().body
    assert received(server) == ["My family"]


def test_a_delivery_that_waits_in_vain_gets_an_empty_200_and_the_turn_still_answers(
    serve: Callable[..., ChannelServer], channel_settings: Settings
) -> None:
    go = threading.Event()
    server = serve(waits_for(go), reply_wait=0.5)
    message = a_message()
    first = ThreadPoolExecutor(1).submit(server.deliver, message, channel_settings.public_url)
    wait_until(lambda: received(server) == ["My family"])

    waited = server.deliver(message, channel_settings.public_url)
    go.set()

    assert reply_of(waited) == EMPTY_TWIML
    assert "<Message>You said: My family</Message>" in reply_of(first.result())
    assert reply_of(server.deliver(message, channel_settings.public_url)) == first.result().body
    assert received(server) == ["My family"]


def test_concurrent_deliveries_of_one_message_run_its_turn_once(
    serve: Callable[..., ChannelServer], channel_settings: Settings
) -> None:
    server = serve(takes(0.3))
    message = a_message()
    together = threading.Barrier(6)

    def deliver() -> Delivery:
        together.wait()
        return server.deliver(message, channel_settings.public_url)

    with ThreadPoolExecutor(6) as pool:
        deliveries = [pool.submit(deliver) for _ in range(6)]
    replies = {reply_of(delivery.result()) for delivery in deliveries}

    assert len(replies) == 1 and "You said: My family" in replies.pop()
    assert received(server) == ["My family"]


def test_of_concurrent_claims_on_one_message_exactly_one_wins(settings: Settings) -> None:
    sid = "SM" + uuid.uuid4().hex
    together = threading.Barrier(8)

    def take() -> int | None:
        together.wait()
        return claim(settings.database_url, sid)

    with ThreadPoolExecutor(8) as pool:
        claims = [result.result() for result in [pool.submit(take) for _ in range(8)]]

    assert claims.count(1) == 1 and claims.count(None) == 7
