"""The texts a practice sent, as the portal shows them: one patient's, and the week's counts.

A record lists every message to its patient, with its state and, when one failed or was
cancelled, the reason. A practice admin sees how many of this week's messages went out,
were delivered, failed or were not delivered, are waiting and were cancelled.

"Went out" means Twilio accepted the message: ``sent``, ``delivered``, ``undelivered``, or
``failed`` after Twilio had accepted it (a failed delivery report; it has a ``sent_at``).
A message Twilio refused at once is ``failed`` and never went out. ``logged`` messages
(no Twilio account) did not go out either; they are counted on their own.

The week runs from Monday 00:00 in the practice's zone. A message belongs to it by when it
went (``sent_at``) or, if it never went, by when it was due (``due_at``: for a refused one,
near its last try; there is no separate time of cancelling). Messages still waiting are
counted if due before next Monday, overdue ones included. Nothing here crosses practices:
every query goes through the patient's practice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from careprep.messaging.reminders import INVITATION, KINDS, NUDGE, REVIEW_REMINDER, REVIEW_SECOND
from careprep.messaging.states import OutboxState
from careprep.store.models import Appointment, OutboxMessage, Patient

KIND_WORDS = {
    INVITATION: "Invitation",
    NUDGE: "Nudge",
    REVIEW_REMINDER: "Review reminder",
    REVIEW_SECOND: "Second review reminder",
}
STATE_WORDS = {
    OutboxState.PENDING: "Waiting to send",
    OutboxState.SENDING: "Sending",
    OutboxState.SENT: "Sent",
    OutboxState.DELIVERED: "Delivered",
    OutboxState.UNDELIVERED: "Not delivered",
    OutboxState.FAILED: "Failed",
    OutboxState.CANCELLED: "Cancelled",
    OutboxState.LOGGED: "Not sent: no Twilio account",
}
WAITING = (OutboxState.PENDING, OutboxState.SENDING)
ACCEPTED = (OutboxState.SENT, OutboxState.DELIVERED, OutboxState.UNDELIVERED)
"""Twilio took these; a ``failed`` one with a ``sent_at`` too (a failed delivery report)."""
NOT_DELIVERED = (OutboxState.UNDELIVERED, OutboxState.FAILED)

_CHAT_LINK = re.compile(r"/chat/[A-Za-z0-9_-]+")
"""The patient's own link in a message: it opens their conversation, so it is not shown."""


@dataclass(frozen=True)
class Message:
    """One text to the patient, as a practitioner reads it."""

    kind: str
    state: str
    when: datetime
    """When it went (``sent_at``), or else when it was or is due; in the practice's zone."""
    when_is: str
    """What ``when`` is: "Sent", "Logged" (no Twilio account) or "Due"."""
    reason: str | None
    """Why it failed, was not delivered or was cancelled (or why the last try failed)."""
    body: str


@dataclass(frozen=True)
class Tally:
    """How a set of messages stands this week."""

    went_out: int = 0
    delivered: int = 0
    not_delivered: int = 0
    """Failed (refused by Twilio, or reported failed) or not delivered."""
    waiting: int = 0
    cancelled: int = 0
    logged: int = 0
    """Only logged: no Twilio account."""

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.went_out + other.went_out,
            self.delivered + other.delivered,
            self.not_delivered + other.not_delivered,
            self.waiting + other.waiting,
            self.cancelled + other.cancelled,
            self.logged + other.logged,
        )


@dataclass(frozen=True)
class Week:
    """A practice's messages this week, per kind and in all."""

    starts: datetime
    now: datetime
    """Both in the practice's zone."""
    kinds: list[tuple[str, Tally]]
    total: Tally


def of_patient(session: Session, appointment: Appointment, zone: str) -> list[Message]:
    """Return every message to the appointment's patient at its practice, newest due first."""
    local = ZoneInfo(zone)
    query = (
        select(OutboxMessage)
        .join(Patient, Patient.id == OutboxMessage.patient_id)
        .where(
            OutboxMessage.patient_id == appointment.patient_id,
            Patient.practice_id == appointment.practice_id,
        )
        .order_by(OutboxMessage.due_at.desc(), OutboxMessage.id.desc())
    )
    return [_message(message, local) for message in session.scalars(query)]


def _message(message: OutboxMessage, zone: ZoneInfo) -> Message:
    when = message.sent_at or message.due_at
    return Message(
        kind=KIND_WORDS.get(message.kind, message.kind.replace("_", " ").capitalize()),
        state=STATE_WORDS.get(message.state, message.state),
        when=when.astimezone(zone),
        when_is=_when_is(message),
        reason=_reason(message),
        body=_CHAT_LINK.sub("/chat/…", message.body),
    )


def _when_is(message: OutboxMessage) -> str:
    if message.sent_at is None:
        return "Due"
    return "Logged" if message.state == OutboxState.LOGGED else "Sent"


def _reason(message: OutboxMessage) -> str | None:
    if message.state == OutboxState.CANCELLED and message.cancelled_reason:
        return message.cancelled_reason[:1].upper() + message.cancelled_reason[1:]
    if message.state in NOT_DELIVERED and message.last_error:
        return str(message.last_error)
    if message.state in WAITING and message.last_error:
        return f"The last try failed and it will be tried again: {message.last_error}"
    return None


def week_start(now: datetime, zone: str) -> datetime:
    """Return Monday 00:00 of the week ``now`` falls in, in the practice's zone."""
    local = now.astimezone(ZoneInfo(zone))
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), tzinfo=ZoneInfo(zone))


def this_week(session: Session, practice_id: int, zone: str, now: datetime) -> Week:
    """Count the practice's messages this week by what became of them, per kind."""
    starts = week_start(now, zone)
    ends = datetime.combine(starts.date() + timedelta(days=7), time(0), tzinfo=ZoneInfo(zone))
    moment = func.coalesce(OutboxMessage.sent_at, OutboxMessage.due_at)
    went = OutboxMessage.sent_at.isnot(None)
    query = (
        select(OutboxMessage.kind, OutboxMessage.state, went, func.count())
        .join(Patient, Patient.id == OutboxMessage.patient_id)
        .where(
            Patient.practice_id == practice_id,
            or_(
                and_(moment >= starts, moment < ends),
                and_(OutboxMessage.state.in_(WAITING), OutboxMessage.due_at < ends),
            ),
        )
        .group_by(OutboxMessage.kind, OutboxMessage.state, went)
    )
    tallies = {kind: Tally() for kind in KINDS}
    for kind, state, sent, count in session.execute(query):
        tallies[kind] = tallies.get(kind, Tally()) + _tally(state, bool(sent), count)
    kinds = [(KIND_WORDS.get(kind, kind), tally) for kind, tally in tallies.items()]
    total = sum((tally for _, tally in kinds), Tally())
    return Week(starts, now.astimezone(ZoneInfo(zone)), kinds, total)


def _tally(state: str, sent: bool, count: int) -> Tally:
    went_out = state in ACCEPTED or (state == OutboxState.FAILED and sent)
    return Tally(
        went_out=count if went_out else 0,
        delivered=count if state == OutboxState.DELIVERED else 0,
        not_delivered=count if state in NOT_DELIVERED else 0,
        waiting=count if state in WAITING else 0,
        cancelled=count if state == OutboxState.CANCELLED else 0,
        logged=count if state == OutboxState.LOGGED else 0,
    )
