"""What the outbox holds for an appointment: scheduled once, moved with it, cancelled with reasons.

For a care planning appointment: the invitation (the practice's ``invite_days`` before)
and a nudge (``nudge_days`` before) if the preparation is not complete by then. For a
review (an appointment of kind ``review`` that follows the one where the plan was made,
at the interval the patient chose): a review reminder on its date, and a second one
``SECOND_REMINDER_AFTER`` later if the patient has not replied.

The store's unique key on (appointment, kind) means a kind of message is never
scheduled twice for one appointment, however often or however concurrently these
functions run. ``plan_reviews`` is run by the worker before each round: it books the
review that follows every completed preparation, so the interval a patient chose
always turns into a reminder, whatever process recorded the answer.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from careprep.messaging.states import OutboxState
from careprep.preparation import messages
from careprep.preparation.questionnaire import REVIEW_INTERVALS, QuestionId
from careprep.store.models import (
    Answer,
    Appointment,
    OutboxMessage,
    Patient,
    Preparation,
    PreparationStatus,
    utcnow,
)

INVITATION = "invitation"
NUDGE = "nudge"
REVIEW_REMINDER = "review_reminder"
REVIEW_SECOND = "review_second"
KINDS = (INVITATION, NUDGE, REVIEW_REMINDER, REVIEW_SECOND)
"""The kinds of message, in the order a patient gets them."""

CARE_PLANNING = "care_planning"
REVIEW = "review"
"""The kinds of appointment: the one where a plan is made, and the reviews that follow it."""

SECOND_REMINDER_AFTER = timedelta(days=3)
REVIEW_OPEN_FOR = timedelta(days=28)
"""How long after its date a review can still be answered, by text or by its link."""
MIN_NUDGE_GAP = timedelta(days=1)
"""A nudge that would come less than this after the invitation is not sent at all."""
REVIEW_MONTHS = {REVIEW_INTERVALS[0]: 3, REVIEW_INTERVALS[1]: 6, REVIEW_INTERVALS[2]: 12}
"""The review intervals a patient can choose, in months ("decide at the appointment": none)."""
PLAN_WINDOW = timedelta(days=90)
"""How long after a preparation is complete the worker still looks for its review to book."""
BOOKED = "booked"
CANCELLED = "cancelled"

log = logging.getLogger(__name__)


class Reason:
    """Why a message was cancelled, as the portal shows it."""

    OPTED_OUT = "the patient opted out of text messages"
    APPOINTMENT_CANCELLED = "the appointment was cancelled"
    PREPARED = "the preparation was complete"
    REPLIED = "the patient replied to the first reminder"
    TOO_LATE = "the appointment was too close to send it"


@dataclass(frozen=True)
class Planned:
    """A message an appointment should have: its kind, when it is due and what it says."""

    kind: str
    due_at: datetime
    body: str


def chat_link(web_url: str, appointment: Appointment) -> str:
    """Return the link that opens the patient's web chat for this appointment."""
    return f"{web_url}/chat/{appointment.preparation.link_token}"


def day_and_time(moment: datetime, zone: str) -> str:
    """Return a time in the practice's zone as a patient reads it: "Tuesday 1 December at 10:30"."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"


def day_only(moment: datetime, zone: str) -> str:
    """Return a day as a patient reads it: "1 December 2026"."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%B %Y}"


def add_months(moment: datetime, months: int, zone: str) -> datetime:
    """Return the same local time ``months`` later (the 31st becomes the month's last day)."""
    local = moment.astimezone(ZoneInfo(zone))
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    moved = local.replace(year=year, month=month, day=day, tzinfo=None)
    return moved.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def plan(appointment: Appointment, zone: str, web_url: str, now: datetime) -> list[Planned]:
    """Return the messages an appointment should have, as things stand."""
    practice = appointment.practice
    fields = {"practice": practice.name, "link": chat_link(web_url, appointment)}
    if appointment.kind == REVIEW:
        made_on = day_only(appointment.follows.starts_at, zone) if appointment.follows else ""
        first = max(now, appointment.starts_at)
        return [
            Planned(
                REVIEW_REMINDER,
                first,
                messages.REVIEW_REMINDER.format(appointment=made_on, **fields),
            ),
            Planned(
                REVIEW_SECOND,
                first + SECOND_REMINDER_AFTER,
                messages.REVIEW_SECOND.format(**fields),
            ),
        ]
    when = day_and_time(appointment.starts_at, zone)
    invite_at = max(now, appointment.starts_at - timedelta(days=practice.invite_days))
    planned = [
        Planned(INVITATION, invite_at, messages.INVITATION.format(appointment=when, **fields))
    ]
    nudge_at = appointment.starts_at - timedelta(days=practice.nudge_days)
    if nudge_at - invite_at >= MIN_NUDGE_GAP:
        planned.append(Planned(NUDGE, nudge_at, messages.NUDGE.format(appointment=when, **fields)))
    return planned


def _messages_of(session: Session, appointment: Appointment) -> dict[str, OutboxMessage]:
    rows = session.execute(
        select(OutboxMessage).where(OutboxMessage.appointment_id == appointment.id)
    ).scalars()
    return {row.kind: row for row in rows}


def _add(session: Session, appointment: Appointment, planned: Planned) -> OutboxMessage | None:
    """Add one planned message; None if another process scheduled it first."""
    message = OutboxMessage(
        patient_id=appointment.patient_id,
        preparation_id=appointment.preparation.id,
        appointment_id=appointment.id,
        kind=planned.kind,
        body=planned.body,
        due_at=planned.due_at,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        log.info("appointment %s already had its %s", appointment.id, planned.kind)
        return None
    return message


def schedule(
    session: Session, appointment: Appointment, zone: str, web_url: str, now: datetime | None = None
) -> list[OutboxMessage]:
    """Schedule the messages an appointment should have and has not; return those added."""
    if appointment.status != BOOKED:
        return []
    existing = _messages_of(session, appointment)
    added = []
    for planned in plan(appointment, zone, web_url, now or utcnow()):
        if planned.kind not in existing:
            message = _add(session, appointment, planned)
            if message is not None:
                added.append(message)
    session.flush()
    return added


def reschedule(
    session: Session, appointment: Appointment, zone: str, web_url: str, now: datetime | None = None
) -> None:
    """Bring an appointment's waiting messages in line with its new time, and its reviews."""
    now = now or utcnow()
    planned = {each.kind: each for each in plan(appointment, zone, web_url, now)}
    for kind, message in _messages_of(session, appointment).items():
        if message.state != OutboxState.PENDING:
            continue
        if kind in planned:
            message.due_at, message.body = planned[kind].due_at, planned[kind].body
        else:
            cancel_message(message, Reason.TOO_LATE)
    schedule(session, appointment, zone, web_url, now)
    for review in _reviews_after(session, appointment):
        if review.preparation.status == PreparationStatus.NOT_STARTED:
            review.starts_at = add_months(appointment.starts_at, review.review_months, zone)
            reschedule(session, review, zone, web_url, now)


def cancel_message(message: OutboxMessage, reason: str) -> None:
    """Cancel one message that has not gone, keeping the reason for the portal."""
    message.state = OutboxState.CANCELLED
    message.cancelled_reason = reason
    log.info("outbox message %s (%s) cancelled: %s", message.id, message.kind, reason)


def cancel_waiting(
    session: Session, appointment: Appointment, reason: str, kinds: tuple[str, ...] = KINDS
) -> int:
    """Cancel an appointment's messages of these kinds that have not gone; return how many."""
    cancelled = 0
    for kind, message in _messages_of(session, appointment).items():
        if kind in kinds and message.state == OutboxState.PENDING:
            cancel_message(message, reason)
            cancelled += 1
    return cancelled


def cancel_for_patients(session: Session, patients: list[Patient], reason: str) -> int:
    """Cancel every waiting message to these patients (they opted out); return how many."""
    waiting = session.execute(
        select(OutboxMessage).where(
            OutboxMessage.patient_id.in_([patient.id for patient in patients]),
            OutboxMessage.state == OutboxState.PENDING,
        )
    ).scalars()
    cancelled = 0
    for message in waiting:
        cancel_message(message, reason)
        cancelled += 1
    return cancelled


def cancel_appointment(session: Session, appointment: Appointment, reason: str) -> int:
    """Cancel an appointment, the reviews that follow it and their waiting messages."""
    appointment.status = CANCELLED
    appointment.cancelled_reason = reason
    cancelled = cancel_waiting(session, appointment, Reason.APPOINTMENT_CANCELLED)
    for review in _reviews_after(session, appointment):
        if review.status == BOOKED and review.preparation.status == PreparationStatus.NOT_STARTED:
            cancelled += cancel_appointment(session, review, reason)
    return cancelled


def _reviews_after(session: Session, appointment: Appointment) -> list[Appointment]:
    return list(
        session.execute(select(Appointment).where(Appointment.follows_id == appointment.id))
        .scalars()
        .all()
    )


def still_wanted(session: Session, message: OutboxMessage) -> str | None:
    """Return why a due message should no longer go (None: send it).

    A nudge is not sent once the preparation is complete; a second review reminder is not
    sent once the patient has replied to the first.
    """
    if message.kind not in (NUDGE, REVIEW_SECOND) or message.preparation_id is None:
        return None
    preparation = session.get(Preparation, message.preparation_id)
    if message.kind == NUDGE and preparation.status == PreparationStatus.COMPLETE:
        return Reason.PREPARED
    replied = preparation.started_at or preparation.identity_verified_at
    if message.kind == REVIEW_SECOND and (replied or preparation.identity_failures):
        return Reason.REPLIED
    return None


def review_months(preparation: Preparation) -> int | None:
    """Return the review interval the patient chose, in months (None: not chosen)."""
    for answer in preparation.answers:
        if answer.question_id == QuestionId.REVIEW_INTERVAL and not answer.skipped:
            return REVIEW_MONTHS.get(str(answer.value))
    return None


def book_review(
    session: Session, appointment: Appointment, months: int, zone: str
) -> Appointment | None:
    """Book the review that follows an appointment, ``months`` after it, with its preparation.

    None if another process booked it first (one review follows an appointment).
    """
    review = Appointment(
        practice_id=appointment.practice_id,
        patient_id=appointment.patient_id,
        practitioner_id=appointment.practitioner_id,
        starts_at=add_months(appointment.starts_at, months, zone),
        kind=REVIEW,
        follows_id=appointment.id,
        review_months=months,
    )
    try:
        with session.begin_nested():
            session.add(review)
            session.add(Preparation(appointment=review, questionnaire_id=REVIEW))
    except IntegrityError:
        log.info("appointment %s already had its review", appointment.id)
        return None
    return review


def plan_reviews(session: Session, zone: str, web_url: str, now: datetime | None = None) -> int:
    """Book the review after every recent complete preparation with an interval and none yet.

    The interval is the one the patient chose; a review that did not ask keeps its own.
    Returns how many reviews were booked.
    """
    now = now or utcnow()
    follower = aliased(Appointment)
    chose = Preparation.answers.any(
        and_(Answer.question_id == QuestionId.REVIEW_INTERVAL, Answer.skipped.is_(False))
    )
    waiting = session.execute(
        select(Appointment)
        .join(Preparation, Preparation.appointment_id == Appointment.id)
        .outerjoin(follower, follower.follows_id == Appointment.id)
        .where(
            Appointment.status == BOOKED,
            Preparation.status == PreparationStatus.COMPLETE,
            Preparation.completed_at >= now - PLAN_WINDOW,
            follower.id.is_(None),
            or_(Appointment.kind == REVIEW, chose),
        )
    ).scalars()
    booked = 0
    for appointment in list(waiting):
        months = review_months(appointment.preparation)
        if appointment.kind == REVIEW and months is None:
            months = appointment.review_months
        if months is None:
            continue
        review = book_review(session, appointment, months, zone)
        if review is not None:
            schedule(session, review, zone, web_url, now)
            booked += 1
    return booked
