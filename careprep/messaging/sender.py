"""What the worker needs of whatever sends a message: the ``Sender`` protocol and its result.

The core owns this protocol; integrations/sms implements it for Twilio, and the process
edge (careprep.cli) hands the worker an instance, so the core never imports Twilio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

OPTED_OUT = 21610
"""Twilio's error code for a recipient who has replied STOP to our number."""

SendState = Literal["sent", "logged", "failed"]


@dataclass(frozen=True)
class SendResult:
    """What became of one outbound message."""

    state: SendState
    sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    permanent: bool = False

    @property
    def opted_out(self) -> bool:
        """Whether the provider refused because the recipient has opted out of our messages."""
        return self.error_code == OPTED_OUT


class Sender(Protocol):
    """Sends one message and says what became of it; never raises for a refused message."""

    @property
    def configured(self) -> bool:
        """Whether messages really leave (False: they are only logged)."""

    def send(self, to: str, body: str) -> SendResult:
        """Send ``body`` to the E.164 number ``to``."""
