"""Our Rasa input channel ``sms``: Twilio's webhook, checked, answered in TwiML.

Unlike Rasa's built-in ``twilio`` channel it checks ``X-Twilio-Signature``,
answers bad requests with a 4xx and a reason, replies in the HTTP response
(no blocking REST call in the event loop), processes a retried ``MessageSid``
once, honours STOP/START, and makes every reply SMS-native (GSM-7, numbered
options, at most two segments per message).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import IntegrityError
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
from careprep.store.models import InboundSms
from integrations.sms.text import split_for_sms, with_options

log = logging.getLogger(__name__)

MAX_BODY = 1600
"""Twilio's own limit for one inbound message."""

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})


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
        """Create the channel; its settings come from the environment, not credentials.yml."""
        return cls()

    def __init__(self, settings: Settings | None = None) -> None:
        """Use the given settings, or read them from the environment."""
        self.settings = settings or get_settings()

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
            return response.text(await self.answer(params, on_new_message), content_type="text/xml")

        @sms.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            params = {key: values[0] for key, values in request.form.items()}
            if not self.is_valid_twilio_request(request, params):
                return response.text("invalid X-Twilio-Signature", status=403)
            if "MessageSid" not in params or "MessageStatus" not in params:
                return response.text("missing MessageSid or MessageStatus", status=400)
            await asyncio.to_thread(
                record_status,
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
        """Process a message once per MessageSid and return the TwiML reply."""
        sid = params.get("MessageSid")
        if sid:
            earlier = await asyncio.to_thread(claim, sid)
            if earlier is not None:
                log.info("SMS %s was already processed; replaying its reply", sid)
                return earlier
        replies = await self.converse(parse_phone(params["From"]), params["Body"], on_new_message)
        document = twiml(replies)
        if sid:
            await asyncio.to_thread(remember_reply, sid, document)
        return document

    async def converse(
        self, phone: str, body: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> list[str]:
        """Apply the SMS keywords, then pass the message to the assistant."""
        text = body.replace("¡", "@").strip()
        word = keyword(text)
        token, opted_out = await asyncio.to_thread(who_is, phone)
        if word in STOP_WORDS:
            await asyncio.to_thread(opt, phone, True)
            return []
        if word in START_WORDS or (word == "YES" and opted_out):
            await asyncio.to_thread(opt, phone, False)
            return split_for_sms(messages.OPTED_IN)
        if opted_out:
            await asyncio.to_thread(flag_if_concerning, phone, text)
            return []
        if not text:
            return split_for_sms(messages.EMPTY_SMS)
        collector = CollectingOutputChannel()
        await on_new_message(
            UserMessage(text, collector, token or self.pseudonym(phone), input_channel=self.name())
        )
        return [reply for message in collector.messages for reply in render(message)]


def claim(sid: str) -> str | None:
    """Record a MessageSid; return the earlier reply ("" if still in progress) if seen before."""
    try:
        with session_scope() as session:
            session.add(InboundSms(message_sid=sid))
        return None
    except IntegrityError:
        with session_scope() as session:
            seen = session.query(InboundSms).filter_by(message_sid=sid).one()
            return seen.reply or twiml([])


def remember_reply(sid: str, document: str) -> None:
    """Keep the reply to a MessageSid, to send again if Twilio retries it."""
    with session_scope() as session:
        session.query(InboundSms).filter_by(message_sid=sid).update({"reply": document})


def who_is(phone: str) -> tuple[str | None, bool]:
    """Return the invite token of the number's upcoming preparation, and its opt-out state."""
    with session_scope() as session:
        preparation = preparation_for_phone(session, phone)
        return (preparation.invite_token if preparation else None), is_opted_out(session, phone)


def opt(phone: str, opted_out: bool) -> None:
    """Record an opt-out or opt-in for the number."""
    with session_scope() as session:
        set_opted_out(session, phone, opted_out)


def flag_if_concerning(phone: str, text: str) -> None:
    """Flag a concern from an opted-out number: no reply is allowed, but the practice must know."""
    found = detect_all(text)
    if not found:
        return
    with session_scope() as session:
        preparation = preparation_for_phone(session, phone)
        if preparation is not None:
            for concern in found:
                raise_flag(session, preparation, concern.level.value, text, None, concern.source)


def record_status(sid: str, status: str, error_code: str | None) -> None:
    """Record a delivery report from Twilio's status callback."""
    with session_scope() as session:
        if not record_delivery_status(session, sid, status, error_code):
            log.info("delivery report for a message that is not ours: %s", sid)
