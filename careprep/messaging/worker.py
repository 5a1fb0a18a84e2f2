"""The worker: sends the messages in the outbox when they are due.

Each message is claimed in a short transaction (state ``sending``), sent with no transaction
open, and its outcome recorded in another, so no lock is held while Twilio answers and a
message already sent is not sent again because a later one went wrong. With no Twilio
credentials a due message is marked ``logged`` and nothing is sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from careprep.clinic.practices import quiet_hours_of
from careprep.messaging.outbox import OutboxState, record_opt_out
from careprep.messaging.schedule import next_allowed
from careprep.messaging.sender import Sender, SendResult
from careprep.patients.contacts import is_opted_out
from careprep.store import session_scope
from careprep.store.models import OutboxMessage, Patient, Practice, utcnow

POLL_SECONDS = 30
BATCH = 50
MAX_ATTEMPTS = 5
"""Times the worker tries a message (each try makes up to four requests) before failing it."""
RETRY_AFTER = timedelta(minutes=1)
"""The wait after a first failed try; it doubles after each further one."""
SEND_LEASE = timedelta(minutes=10)
"""How long a message may stay ``sending`` before it is taken to have lost its worker."""

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""Where the worker reads the time (tests give it a clock of their own)."""


@dataclass(frozen=True)
class Claim:
    """A message claimed for sending, with what sending needs."""

    message_id: int
    to: str
    body: str


def due_messages(
    session: Session, limit: int = BATCH, now: datetime | None = None
) -> list[OutboxMessage]:
    """Lock the due messages (skipping rows other workers hold), including any whose worker died."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.SENDING]),
            OutboxMessage.due_at <= (now or utcnow()),
        )
        .order_by(OutboxMessage.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.execute(query).scalars())


def _claim(session: Session, message: OutboxMessage, zone: str, now: datetime) -> Claim | None:
    """Mark a due message ``sending``; None if it is not to be sent now.

    A message to a number that opted out is ``cancelled``; one that falls in the practice's
    quiet hours or on a Sunday waits, ``pending``, until the next allowed minute.
    """
    patient = session.get(Patient, message.patient_id)
    if is_opted_out(session, patient.phone):
        message.state = OutboxState.CANCELLED
        message.last_error = "patient opted out of text messages"
        log.info("outbox message %s (%s) cancelled: opted out", message.id, message.kind)
        return None
    allowed = next_allowed(now, quiet_hours_of(session.get(Practice, patient.practice_id)), zone)
    if allowed > now:
        message.state = OutboxState.PENDING
        message.due_at = allowed
        log.info("outbox message %s (%s) waits for %s", message.id, message.kind, allowed)
        return None
    message.state = OutboxState.SENDING
    message.attempts += 1
    message.due_at = now + SEND_LEASE
    return Claim(message.id, patient.phone, message.body)


def _record_result(session: Session, message_id: int, result: SendResult, now: datetime) -> None:
    """Record what became of a claimed message: sent, logged, failed or to be tried again."""
    message = session.get(OutboxMessage, message_id)
    if result.state != "failed":
        message.state = result.state
        message.provider_sid = result.sid
        message.sent_at = now
        message.last_error = None
    else:
        message.last_error = _describe(result)
        if result.permanent or message.attempts >= MAX_ATTEMPTS:
            message.state = OutboxState.FAILED
            if result.opted_out:
                record_opt_out(session, message)
        else:
            message.state = OutboxState.PENDING
            message.due_at = now + RETRY_AFTER * 2 ** (message.attempts - 1)
    log.info(
        "outbox message %s (%s) %s after %d tries (Twilio error %s)",
        message.id,
        message.kind,
        message.state,
        message.attempts,
        result.error_code or "none",
    )


def _describe(result: SendResult) -> str:
    """Return a failure as kept in the outbox."""
    if result.error_code is None:
        return result.error_message or "unknown error"
    return f"Twilio error {result.error_code}: {result.error_message}"


def dispatch_next(
    database_url: str, sender: Sender, zone: str = "Europe/London", clock: Clock = utcnow
) -> bool:
    """Claim the next due message and deal with it; return False when none is due.

    ``zone`` is the practices' time zone, in which their quiet hours are kept.
    """
    with session_scope(database_url) as session:
        due = due_messages(session, limit=1, now=clock())
        if not due:
            return False
        claimed = _claim(session, due[0], zone, clock())
    if claimed is not None:
        result = sender.send(claimed.to, claimed.body)
        with session_scope(database_url) as session:
            _record_result(session, claimed.message_id, result, clock())
    return True


def dispatch_due(
    database_url: str,
    sender: Sender,
    limit: int = BATCH,
    zone: str = "Europe/London",
    clock: Clock = utcnow,
) -> int:
    """Deal with the due messages one at a time; return how many were handled."""
    handled = 0
    while handled < limit and dispatch_next(database_url, sender, zone, clock):
        handled += 1
    return handled


def run_worker(
    database_url: str, sender: Sender, once: bool = False, zone: str = "Europe/London"
) -> int:
    """Dispatch due messages, once or every POLL_SECONDS until stopped."""
    if not sender.configured:
        log.info("no Twilio account: due messages are logged in the outbox, not sent")
    while True:
        try:
            handled = dispatch_due(database_url, sender, zone=zone)
        except OperationalError as problem:
            if once:
                raise
            log.warning(
                "the store is unavailable (%s); trying again in %s s",
                type(problem.orig).__name__,
                POLL_SECONDS,
            )
            handled = 0
        if once:
            print(f"{handled} messages handled")
            return 0
        time.sleep(POLL_SECONDS)
