"""The states an outbox message moves through."""

from __future__ import annotations


class OutboxState:
    """The states of an outbox message.

    ``pending`` → ``sending`` (claimed by a worker) → ``sent`` (Twilio accepted it) →
    ``delivered`` / ``undelivered`` / ``failed`` (Twilio's delivery report); or ``logged``
    (no Twilio account), ``cancelled`` (with the reason) or ``failed`` (refused).
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    LOGGED = "logged"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
