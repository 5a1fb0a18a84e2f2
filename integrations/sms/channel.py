"""Our Rasa input channel ``sms``: Twilio's webhook, checked, answered in TwiML.

Unlike Rasa's built-in ``twilio`` channel it checks ``X-Twilio-Signature``,
answers bad requests with a 4xx and a reason, replies in the HTTP response
(no blocking REST call in the event loop), runs the turn of a ``MessageSid`` once
even when Twilio delivers it again, runs it again if it died (see inbound.py),
honours STOP/START, and makes every reply SMS-native (GSM-7, numbered options,
at most two segments per message).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from careprep.clinic.appointments import InputError, parse_phone
from careprep.messaging.outbox import record_delivery_status
from careprep.patients.contacts import is_opted_out, preparation_for_phone, set_opted_out
from careprep.preparation import messages
from careprep.safety import detect_all
from careprep.safety.flags import raise_flag
from careprep.settings import Settings, get_settings
from careprep.store import session_scope
from integrations.sms.inbound import TURN_LEASE, claim, complete, release, renew, stored_reply
from integrations.sms.text import split_for_sms, with_options

log = logging.getLogger(__name__)

MAX_BODY = 1600
"""Twilio's own limit for one inbound message."""

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})

REPLY_WAIT_SECONDS = 10.0
"""How long a delivery waits for the reply of the delivery that is answering the same message.

Longer than TURN_LEASE, so that a delivery which finds the claim of a dead turn takes it over
within its wait, and shorter than Twilio's 15-second timeout. If the other turn is alive but still
running when the wait ends, this delivery answers 200 with empty TwiML, so that Twilio stops
delivering the message again: the running turn still stores the patient's answer, but its reply
then reaches the patient only if Twilio is still waiting for that first delivery; otherwise the
patient's next message carries the conversation on from there.
"""
POLL_SECONDS = 0.25
"""How often a waiting delivery looks for the reply."""

RASA_PROCESSOR_LOGGER = "rasa.core.processor"
"""Where Rasa logs an exception from an action (the action server died) and then carries on."""

TURN_FAILED = "the message could not be answered now; it is answered when Twilio delivers it again"
"""The reason given with a 503 when a turn failed (Twilio retries a 5xx if the webhook says so)."""

_errors_in_this_turn: ContextVar[list[str] | None] = ContextVar("errors_in_this_turn", default=None)


class TurnFailed(Exception):
    """A turn did not complete: the assistant raised, or Rasa carried on after an error."""


class _RasaCarriedOn(logging.Handler):
    """Notes, for the SMS turn running in this context, an exception that Rasa logged.

    When an action fails (the action server died, or answered with an error), Rasa's processor
    logs the exception and carries on without the action's events: the turn then ends normally
    with the patient's message unread. That log record is the only sign Rasa gives of it.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record against the turn running in this context, if any."""
        errors = _errors_in_this_turn.get()
        if errors is not None and record.exc_info:
            errors.append(record.name)


_RASA_CARRIED_ON = _RasaCarriedOn()


def keyword(text: str) -> str:
    """Return a message as a Twilio keyword would be read: the whole message, upper case."""
    return re.sub(r"[^A-Z]", "", text.upper()) if len(text) < 20 else ""


def render(bot_message: dict[str, Any]) -> list[str]:
    """Turn one bot message (text and buttons) into SMS messages."""
    titles = [button.get("title", "") for button in bot_message.get("buttons") or []]
    return split_for_sms(with_options(bot_message.get("text") or "", titles))


def twiml(replies: list[str]) -> str:
    """Return TwiML with one ``<Message>`` per reply."""
    document = MessagingResponse()
    for reply in replies:
        document.message(reply)
    return str(document)


class SmsInput(InputChannel):
    """Twilio SMS at ``POST /webhooks/sms/webhook`` (and delivery status at ``/status``)."""

    @classmethod
    def name(cls) -> str:
        """Return the channel name, which is also its URL prefix."""
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Create the channel as the Rasa server starts: the settings are read here, once.

        credentials.yml holds nothing for this channel; its settings (TWILIO_AUTH_TOKEN,
        PUBLIC_URL, DATABASE_URL, ...) come from the Rasa server's environment.
        """
        return cls(get_settings())

    def __init__(
        self,
        settings: Settings,
        *,
        turn_lease: timedelta = TURN_LEASE,
        reply_wait: float = REPLY_WAIT_SECONDS,
    ) -> None:
        """Serve SMS with these settings; the timings are for tests to shorten."""
        self.settings = settings
        self.turn_lease = turn_lease
        self.reply_wait = reply_wait
        logging.getLogger(RASA_PROCESSOR_LOGGER).addHandler(_RASA_CARRIED_ON)

    def is_valid_twilio_request(self, request: Request, params: dict[str, str]) -> bool:
        """Check ``X-Twilio-Signature`` against PUBLIC_URL (always true without an auth token)."""
        token = self.settings.twilio_auth_token
        if not token:
            return True
        url = self.settings.public_url + request.path
        if request.query_string:
            url += "?" + request.query_string
        signature = request.headers.get("X-Twilio-Signature", "")
        return bool(RequestValidator(token).validate(url, params, signature))

    def pseudonym(self, phone: str) -> str:
        """Return a stable conversation id for a number we have no appointment for."""
        digest = hmac.new(self.settings.secret_key.encode(), phone.encode(), hashlib.sha256)
        return "sms-" + digest.hexdigest()[:24]

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Return the webhook routes."""
        sms = Blueprint("careprep_sms", __name__)

        @sms.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sms.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            params = {key: values[0] for key, values in request.form.items()}
            if not self.is_valid_twilio_request(request, params):
                return response.text("invalid X-Twilio-Signature", status=403)
            problem = self.problem_with(params)
            if problem:
                status, reason = problem
                return response.text(reason, status=status)
            try:
                document = await self.answer(params, on_new_message)
            except TurnFailed:
                return response.text(TURN_FAILED, status=503)
            return response.text(document, content_type="text/xml")

        @sms.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            params = {key: values[0] for key, values in request.form.items()}
            if not self.is_valid_twilio_request(request, params):
                return response.text("invalid X-Twilio-Signature", status=403)
            if "MessageSid" not in params or "MessageStatus" not in params:
                return response.text("missing MessageSid or MessageStatus", status=400)
            await asyncio.to_thread(
                record_status,
                self.settings.database_url,
                params["MessageSid"],
                params["MessageStatus"],
                params.get("ErrorCode"),
            )
            return response.empty()

        return sms

    @staticmethod
    def problem_with(params: dict[str, str]) -> tuple[int, str] | None:
        """Return the status and reason to refuse a malformed request with, or None."""
        for field in ("From", "Body"):
            if field not in params:
                return 400, f"missing {field}"
        if len(params["Body"]) > MAX_BODY:
            return 413, f"Body is longer than {MAX_BODY} characters"
        try:
            parse_phone(params["From"])
        except InputError:
            return 400, "From is not a phone number"
        return None

    async def answer(
        self, params: dict[str, str], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> str:
        """Return the TwiML reply to a message, running its turn once per MessageSid.

        A delivery of a MessageSid that another delivery is answering waits for that reply (at
        most ``reply_wait`` seconds) and replays it; if the claim's lease runs out meanwhile (its
        process died), it takes the claim over and runs the turn itself. Raises TurnFailed when
        the turn failed; the claim is then released for Twilio's next delivery.
        """
        sid = params.get("MessageSid")
        if not sid:
            return twiml(await self.turn(params, on_new_message))
        url = self.settings.database_url
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.reply_wait
        while True:
            attempt = await asyncio.to_thread(claim, url, sid, self.turn_lease)
            if attempt is not None:
                return await self.answer_claimed(sid, attempt, params, on_new_message)
            earlier = await asyncio.to_thread(stored_reply, url, sid)
            if earlier is not None:
                log.info("SMS %s was already answered; replaying the reply", sid)
                return earlier
            if loop.time() >= give_up_at:
                log.warning("SMS %s is still being answered by another delivery", sid)
                return twiml([])
            await asyncio.sleep(POLL_SECONDS)

    async def answer_claimed(
        self,
        sid: str,
        attempt: int,
        params: dict[str, str],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> str:
        """Run the turn of a claimed MessageSid, renewing the lease; keep its reply, or release."""
        url = self.settings.database_url
        renewing = asyncio.create_task(self.keep_lease(sid, attempt))
        try:
            replies = await self.turn(params, on_new_message)
        except BaseException as failure:
            renewing.cancel()
            await asyncio.to_thread(release, url, sid, attempt)
            if not isinstance(failure, Exception):
                raise  # cancelled: Twilio hung up, and its next delivery runs the turn again
            log.warning("SMS %s: the turn failed (%s)", sid, type(failure).__name__)
            raise TurnFailed("the turn failed; its claim is released") from failure
        renewing.cancel()
        document = twiml(replies)
        await asyncio.to_thread(complete, url, sid, document)
        return document

    async def keep_lease(self, sid: str, attempt: int) -> None:
        """Renew the claim's lease while its turn runs (until cancelled)."""
        every = self.turn_lease.total_seconds() / 4
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(
                    renew, self.settings.database_url, sid, attempt, self.turn_lease
                )
            except SQLAlchemyError as problem:
                log.warning("SMS %s: could not renew the lease (%s)", sid, type(problem).__name__)

    async def turn(
        self, params: dict[str, str], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> list[str]:
        """Run one turn; raise TurnFailed if Rasa logged an error in it and carried on."""
        errors: list[str] = []
        watching = _errors_in_this_turn.set(errors)
        try:
            replies = await self.converse(
                parse_phone(params["From"]), params["Body"], on_new_message
            )
        finally:
            _errors_in_this_turn.reset(watching)
        if errors:
            raise TurnFailed(f"Rasa carried on after an error logged by {', '.join(errors)}")
        return replies

    async def converse(
        self, phone: str, body: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> list[str]:
        """Apply the SMS keywords, then pass the message to the assistant."""
        text = body.replace("¡", "@").strip()
        word = keyword(text)
        token, opted_out = await asyncio.to_thread(who_is, self.settings.database_url, phone)
        if word in STOP_WORDS:
            await asyncio.to_thread(opt, self.settings.database_url, phone, True)
            return []
        if word in START_WORDS or (word == "YES" and opted_out):
            await asyncio.to_thread(opt, self.settings.database_url, phone, False)
            return split_for_sms(messages.OPTED_IN)
        if opted_out:
            await asyncio.to_thread(flag_if_concerning, self.settings.database_url, phone, text)
            return []
        if not text:
            return split_for_sms(messages.EMPTY_SMS)
        collector = CollectingOutputChannel()
        await on_new_message(
            UserMessage(text, collector, token or self.pseudonym(phone), input_channel=self.name())
        )
        return [reply for message in collector.messages for reply in render(message)]


def who_is(url: str, phone: str) -> tuple[str | None, bool]:
    """Return the invite token of the number's upcoming preparation, and its opt-out state."""
    with session_scope(url) as session:
        preparation = preparation_for_phone(session, phone)
        return (preparation.invite_token if preparation else None), is_opted_out(session, phone)


def opt(url: str, phone: str, opted_out: bool) -> None:
    """Record an opt-out or opt-in for the number."""
    with session_scope(url) as session:
        set_opted_out(session, phone, opted_out)


def flag_if_concerning(url: str, phone: str, text: str) -> None:
    """Flag a concern from an opted-out number: no reply is allowed, but the practice must know."""
    found = detect_all(text)
    if not found:
        return
    with session_scope(url) as session:
        preparation = preparation_for_phone(session, phone)
        if preparation is not None:
            for concern in found:
                raise_flag(
                    session,
                    preparation,
                    concern.level.value,
                    text,
                    None,
                    concern.source,
                    concern.versions,
                )


def record_status(url: str, sid: str, status: str, error_code: str | None) -> None:
    """Record a delivery report from Twilio's status callback."""
    with session_scope(url) as session:
        if not record_delivery_status(session, sid, status, error_code):
            log.info("delivery report for a message that is not ours: %s", sid)
