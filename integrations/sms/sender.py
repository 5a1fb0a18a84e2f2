"""Outbound SMS through Twilio's REST API, or only to the log when there is no Twilio account.

Logs carry Twilio message sids, states and error codes, never a phone number or a body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import requests
from requests.utils import get_environ_proxies
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from careprep.messaging.sender import SendResult
from careprep.settings import Settings

log = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 10.0
TWILIO_API = "https://api.twilio.com"
ACCOUNT_PROBLEMS = frozenset({401, 403})
"""HTTP statuses that say our account is wrong, not the message: worth trying again later."""


def _http_client(base_url: str) -> TwilioHttpClient:
    """Return twilio's HTTP client, with the proxy settings read from the environment once.

    requests would otherwise read the environment (proxies, .netrc, CA bundle) again for
    every message, which was a fifth of the worker's time per message.
    """
    client = TwilioHttpClient(timeout=HTTP_TIMEOUT_SECONDS, proxy=get_environ_proxies(base_url))
    if client.session is not None:
        client.session.trust_env = False
    return client


class SmsSender:
    """The core's ``Sender`` for Twilio: one SMS at a time, retrying what may succeed later."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._from = settings.twilio_from_number
        self._status_callback = f"{settings.public_url}/webhooks/sms/status"
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._client: Client | None = None
        if settings.twilio_configured:
            self._client = Client(
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                http_client=_http_client(settings.twilio_api_base_url or TWILIO_API),
            )
            if settings.twilio_api_base_url:
                self._client.api.base_url = settings.twilio_api_base_url

    @property
    def configured(self) -> bool:
        """Whether messages really go to Twilio (False: they are only logged)."""
        return self._client is not None

    def send(self, to: str, body: str) -> SendResult:
        """Send ``body`` to the E.164 number ``to`` (only log it without a Twilio account)."""
        if self._client is None:
            log.info("SMS logged, not sent: no Twilio account")
            return SendResult(state="logged")
        attempt = 1
        result, retry_now = self._attempt(self._client, to, body)
        while retry_now and attempt < self._max_attempts:
            delay = self._backoff_seconds * 2 ** (attempt - 1)
            log.info(
                "Twilio error %s on attempt %d; retrying in %.1fs",
                result.error_code,
                attempt,
                delay,
            )
            self._sleep(delay)
            attempt += 1
            result, retry_now = self._attempt(self._client, to, body)
        return result

    def _attempt(self, client: Client, to: str, body: str) -> tuple[SendResult, bool]:
        """Make one request; return its result and whether trying again at once may help."""
        try:
            message = client.messages.create(
                to=to, from_=self._from, body=body, status_callback=self._status_callback
            )
        except TwilioRestException as error:
            retry_now = error.status == 429 or error.status >= 500
            permanent = not retry_now and error.status not in ACCOUNT_PROBLEMS
            log.warning(
                "Twilio refused a message: HTTP %s, error %s%s",
                error.status,
                error.code,
                " (permanent)" if permanent else "",
            )
            failed = SendResult(
                "failed", error_code=error.code, error_message=error.msg, permanent=permanent
            )
            return failed, retry_now
        except (requests.ConnectionError, requests.Timeout) as error:
            reason = f"could not reach Twilio ({type(error).__name__})"
            log.warning(reason)
            return SendResult("failed", error_message=reason), True
        log.info("Twilio accepted message %s (%s)", message.sid, message.status)
        return SendResult("sent", sid=message.sid), False
