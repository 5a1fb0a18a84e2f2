"""The worker: sends the messages in the outbox when they are due, several at a time.

Due messages are claimed in batches in a short transaction (state ``sending``, with a
lease; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers never claim the same one),
then sent concurrently by a pool of threads (at most ``in_flight`` requests at once, each
practice at most its ``send_rate`` a second) with no transaction open; the outcomes Twilio
has given are written every ``RECORD_EVERY`` (50 ms), together in one transaction. So no
lock is held while Twilio answers, and a message already sent is not sent again because
another went wrong.
A claim whose worker died is taken back when its lease ends (docs/messaging.md: the one
window in which a message can go twice). With no Twilio credentials a due message is
marked ``logged`` and nothing is sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from careprep.clinic.practices import quiet_hours_of
from careprep.messaging.outbox import record_opt_out
from careprep.messaging.reminders import Reason, cancel_message, plan_reviews, still_wanted
from careprep.messaging.schedule import next_allowed
from careprep.messaging.sender import Sender, SendResult
from careprep.messaging.states import OutboxState
from careprep.store import session_scope
from careprep.store.models import OutboxMessage, Patient, Practice, utcnow

POLL_SECONDS = 30
BATCH = 100
IN_FLIGHT = 8
"""Requests to Twilio in flight at once, whatever the practices' rates allow."""
MAX_ATTEMPTS = 5
"""Times the worker tries a message (each try makes up to four requests) before failing it."""
RETRY_AFTER = timedelta(minutes=1)
"""The wait after a first failed try; it doubles after each further one."""
RECORD_EVERY = timedelta(milliseconds=50)
"""How often the outcomes Twilio has given are written to the store, in one transaction."""
SEND_LEASE = timedelta(minutes=10)
"""How long a message may stay ``sending`` before it is taken to have lost its worker."""

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""Where the worker reads the time (tests give it a clock of their own)."""


@dataclass(frozen=True)
class Dispatch:
    """How a worker sends: the practices' zone, the web app's address and its limits.

    Attributes:
        zone: the practices' time zone, in which quiet hours are kept.
        web_url: the web app's address, for the links in the reviews the worker books.
        in_flight: requests to Twilio at once.
        batch: messages claimed in one transaction.
        lease: how long a claim holds before another worker may take the message back.
        rate_limited: hold each practice to its ``send_rate`` (off only for benchmarks).
        clock: where the time is read.

    """

    zone: str = "Europe/London"
    web_url: str = "http://localhost:8000"
    in_flight: int = IN_FLIGHT
    batch: int = BATCH
    lease: timedelta = SEND_LEASE
    rate_limited: bool = True
    clock: Clock = utcnow


@dataclass(frozen=True)
class Claim:
    """A message claimed for sending, with what sending needs."""

    message_id: int
    to: str
    body: str
    practice_id: int
    send_rate: int


class RateLimiter:
    """Spaces each practice's sends ``1 / send_rate`` seconds apart, across threads.

    So no practice has more than ``send_rate`` messages leave in any one second.
    """

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[int, float] = {}
        self._lock = threading.Lock()

    def slot(self, practice_id: int, rate: int) -> float:
        """Book the practice's next free moment (``monotonic`` time) and return it."""
        with self._lock:
            now = self._monotonic()
            moment = max(now, self._next.get(practice_id, now))
            self._next[practice_id] = moment + 1 / rate
        return moment

    def wait(self, practice_id: int, rate: int) -> None:
        """Return when the practice may send its next message."""
        delay = self.slot(practice_id, rate) - self._monotonic()
        if delay > 0:
            self._sleep(delay)


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


def _claim(
    session: Session,
    message: OutboxMessage,
    dispatch: Dispatch,
    now: datetime,
    found: _Batch,
) -> Claim | None:
    """Mark a due message ``sending``; None if it is not to be sent now.

    A message to a number that opted out, or one no longer needed (a nudge after the
    preparation is complete), is ``cancelled`` with the reason; one that falls in the
    practice's quiet hours or on a Sunday waits, ``pending``, until the next allowed minute.
    """
    patient = found.patients[message.patient_id]
    if patient.phone in found.opted_out:
        cancel_message(message, Reason.OPTED_OUT)
        return None
    unwanted = still_wanted(session, message)
    if unwanted is not None:
        cancel_message(message, unwanted)
        return None
    practice = found.practices[patient.practice_id]
    allowed = next_allowed(now, quiet_hours_of(practice), dispatch.zone)
    if allowed > now:
        message.state = OutboxState.PENDING
        message.due_at = allowed
        log.info("outbox message %s (%s) waits for %s", message.id, message.kind, allowed)
        return None
    message.state = OutboxState.SENDING
    message.attempts += 1
    message.due_at = now + dispatch.lease
    return Claim(message.id, patient.phone, message.body, practice.id, practice.send_rate)


def _record_result(
    session: Session, message: OutboxMessage, result: SendResult, now: datetime
) -> None:
    """Record what became of a claimed message: sent, logged, failed or to be tried again."""
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


@dataclass(frozen=True)
class _Batch:
    """What claiming a batch needs to know, read in three queries rather than per message."""

    patients: dict[int, Patient]
    practices: dict[int, Practice]
    opted_out: set[str]


def _read_batch(session: Session, due: list[OutboxMessage]) -> _Batch:
    patients = {
        patient.id: patient
        for patient in session.execute(
            select(Patient).where(Patient.id.in_({message.patient_id for message in due}))
        ).scalars()
    }
    practice_ids = {patient.practice_id for patient in patients.values()}
    practices = {
        practice.id: practice
        for practice in session.execute(
            select(Practice).where(Practice.id.in_(practice_ids))
        ).scalars()
    }
    phones = {patient.phone for patient in patients.values()}
    opted_out = set(
        session.execute(
            select(Patient.phone).where(
                Patient.phone.in_(phones), Patient.sms_opted_out_at.is_not(None)
            )
        ).scalars()
    )
    return _Batch(patients, practices, opted_out)


def claim_batch(database_url: str, dispatch: Dispatch, size: int) -> tuple[int, list[Claim]]:
    """Claim up to ``size`` due messages; return how many were due and those to send now."""
    now = dispatch.clock()
    with session_scope(database_url) as session, session.no_autoflush:
        due = due_messages(session, limit=size, now=now)
        if not due:
            return 0, []
        found = _read_batch(session, due)
        claims = [
            claim
            for message in due
            if (claim := _claim(session, message, dispatch, now, found)) is not None
        ]
        return len(due), claims


def send_claimed(
    sender: Sender, claim: Claim, dispatch: Dispatch, limiter: RateLimiter
) -> SendResult:
    """Send one claimed message, at its practice's pace."""
    if dispatch.rate_limited:
        limiter.wait(claim.practice_id, claim.send_rate)
    return sender.send(claim.to, claim.body)


def record_results(database_url: str, results: list[tuple[int, SendResult]], now: datetime) -> None:
    """Record what became of several sent messages, in one transaction."""
    with session_scope(database_url) as session, session.no_autoflush:
        messages = {
            message.id: message
            for message in session.execute(
                select(OutboxMessage).where(OutboxMessage.id.in_([mid for mid, _ in results]))
            ).scalars()
        }
        for message_id, result in results:
            _record_result(session, messages[message_id], result, now)


def dispatch_due(
    database_url: str,
    sender: Sender,
    limit: int | None = None,
    dispatch: Dispatch | None = None,
    limiter: RateLimiter | None = None,
) -> int:
    """Deal with every due message (or ``limit`` of them); return how many were handled.

    Handled means sent, logged, failed, cancelled or put off to later. Outcomes are
    written every ``RECORD_EVERY`` seconds, all those Twilio has answered since in one
    transaction, so a message sent is on record a fraction of a second later.
    """
    dispatch = dispatch or Dispatch()
    limiter = limiter or RateLimiter()
    handled = 0
    with ThreadPoolExecutor(dispatch.in_flight, thread_name_prefix="send") as pool:
        while limit is None or handled < limit:
            size = dispatch.batch if limit is None else min(dispatch.batch, limit - handled)
            due, claims = claim_batch(database_url, dispatch, size)
            if not due:
                break
            handled += due
            sending = {
                pool.submit(send_claimed, sender, claim, dispatch, limiter): claim.message_id
                for claim in claims
            }
            while sending:
                done, _ = wait(sending, timeout=RECORD_EVERY.total_seconds())
                answered = [(sending.pop(future), future.result()) for future in done]
                if answered:
                    record_results(database_url, answered, dispatch.clock())
    return handled


def plan(database_url: str, dispatch: Dispatch) -> int:
    """Book the reviews that completed preparations asked for; return how many."""
    with session_scope(database_url) as session:
        return plan_reviews(session, dispatch.zone, dispatch.web_url, dispatch.clock())


def run_worker(
    database_url: str, sender: Sender, once: bool = False, dispatch: Dispatch | None = None
) -> int:
    """Book reviews and dispatch due messages, once or every POLL_SECONDS until stopped."""
    dispatch = dispatch or Dispatch()
    if not sender.configured:
        log.info("no Twilio account: due messages are logged in the outbox, not sent")
    limiter = RateLimiter()
    while True:
        try:
            plan(database_url, dispatch)
            handled = dispatch_due(database_url, sender, dispatch=dispatch, limiter=limiter)
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
