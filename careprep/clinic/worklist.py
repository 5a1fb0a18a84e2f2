"""The practice's appointment list: who has prepared, who has not, who raised a concern.

One row per appointment of one practice, with what a practice manager scans for: the
preparation's status, how many questions were answered, open safety flags (the most
serious first), whether the patient agreed to share and whether the record was read.
Nothing here crosses practices: every query is filtered by the practice asking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, joinedload

from careprep.messaging.reminders import INVITATION
from careprep.messaging.states import OutboxState
from careprep.preparation.progress import questionnaire_of
from careprep.preparation.questionnaire import CONTACT, PREPARE, QuestionId
from careprep.store.models import (
    Answer,
    Appointment,
    OutboxMessage,
    Preparation,
    PreparationStatus,
    SafetyFlag,
)

FLAG_ORDER = ("emergency", "mental_health", "safeguarding", "urgent", "identity")
"""The most serious flag first: a row shows its most serious open flag."""

INVITED = "invited"
"""Not started, but the invitation has gone out: shown apart from those never invited."""
SENT_STATES = (OutboxState.SENT, OutboxState.DELIVERED, OutboxState.LOGGED)

STATUSES = (
    PreparationStatus.NOT_STARTED,
    INVITED,
    PreparationStatus.IN_PROGRESS,
    PreparationStatus.COMPLETE,
    PreparationStatus.DECLINED,
)
SHOWS = ("concerns", "requests", "unread", *STATUSES)
WHEN = ("upcoming", "today", "past", "all")
SORTS = ("time", "concerns", "status")


@dataclass(frozen=True)
class Row:
    """One appointment as the list shows it."""

    appointment_id: int
    starts_at: datetime
    patient_name: str
    date_of_birth: str
    status: str
    answered: int
    questions: int
    open_flags: int
    worst_flag: str | None
    shared: bool | None
    read_at: datetime | None
    cancelled: bool
    kind: str = "care_planning"
    wants: str | None = None
    """A review's request to talk ("An appointment", "A phone call"): a task until read."""

    @property
    def open_request(self) -> bool:
        """Whether the patient asked for an appointment or a call and nobody has read it."""
        return self.wants is not None and self.read_at is None


@dataclass(frozen=True)
class Counts:
    """How the practice's listed appointments stand, for the line above the list."""

    total: int
    complete: int
    in_progress: int
    not_started: int
    invited: int
    with_concerns: int
    unread: int
    requests: int = 0


def _window(when: str, now: datetime, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    today = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    return {
        "upcoming": (today, None),
        "today": (today, today + timedelta(days=1)),
        "past": (None, today),
        "all": (None, None),
    }[when]


def worklist(
    session: Session,
    practice_id: int,
    zone: str,
    now: datetime,
    show: str | None = None,
    when: str = "upcoming",
    sort: str = "time",
) -> list[Row]:
    """Return the practice's appointments as rows, filtered and sorted as asked."""
    local = ZoneInfo(zone)
    start, end = _window(when, now, local)
    query = (
        select(Appointment)
        .where(Appointment.practice_id == practice_id)
        .options(joinedload(Appointment.patient), joinedload(Appointment.preparation))
    )
    if start is not None:
        query = query.where(Appointment.starts_at >= start)
    if end is not None:
        query = query.where(Appointment.starts_at < end)
    appointments = list(session.scalars(query.order_by(Appointment.starts_at, Appointment.id)))
    preparation_ids = [a.preparation.id for a in appointments if a.preparation is not None]
    answered = _answered(session, preparation_ids)
    flags = _open_flags(session, practice_id, preparation_ids)
    invited = _invited(session, preparation_ids)
    wants = _requests(session, preparation_ids)
    rows = [_row(a, answered, flags, invited, local, wants) for a in appointments]
    rows = [row for row in rows if _shown(row, show)]
    if sort == "concerns":
        rows.sort(key=lambda r: (_severity(r.worst_flag), r.starts_at))
    elif sort == "status":
        rows.sort(
            key=lambda r: (STATUSES.index(r.status) if r.status in STATUSES else 9, r.starts_at)
        )
    return rows


def _answered(session: Session, preparation_ids: list[int]) -> dict[int, int]:
    if not preparation_ids:
        return {}
    query = (
        select(Answer.preparation_id, func.count())
        .where(and_(Answer.preparation_id.in_(preparation_ids), Answer.skipped.is_(False)))
        .group_by(Answer.preparation_id)
    )
    return {preparation_id: count for preparation_id, count in session.execute(query)}


def _requests(session: Session, preparation_ids: list[int]) -> dict[int, str]:
    """Return the reviews whose patient asked for an appointment or a call, and which."""
    if not preparation_ids:
        return {}
    query = select(Answer.preparation_id, Answer.value).where(
        Answer.preparation_id.in_(preparation_ids),
        Answer.question_id == QuestionId.CONTACT,
        Answer.skipped.is_(False),
    )
    return {
        preparation_id: str(value)
        for preparation_id, value in session.execute(query)
        if value in CONTACT[:2]
    }


def _invited(session: Session, preparation_ids: list[int]) -> set[int]:
    if not preparation_ids:
        return set()
    query = select(OutboxMessage.preparation_id).where(
        OutboxMessage.preparation_id.in_(preparation_ids),
        OutboxMessage.kind == INVITATION,
        OutboxMessage.state.in_(SENT_STATES),
    )
    return set(session.scalars(query))


def _open_flags(
    session: Session, practice_id: int, preparation_ids: list[int]
) -> dict[int, list[str]]:
    if not preparation_ids:
        return {}
    query = select(SafetyFlag.preparation_id, SafetyFlag.level).where(
        SafetyFlag.practice_id == practice_id,
        SafetyFlag.preparation_id.in_(preparation_ids),
        SafetyFlag.handled_at.is_(None),
    )
    found: dict[int, list[str]] = {}
    for preparation_id, level in session.execute(query):
        found.setdefault(preparation_id, []).append(level)
    return found


def _severity(level: str | None) -> int:
    if level is None:
        return len(FLAG_ORDER) + 1
    return FLAG_ORDER.index(level) if level in FLAG_ORDER else len(FLAG_ORDER)


def _row(
    appointment: Appointment,
    answered: dict[int, int],
    flags: dict[int, list[str]],
    invited: set[int],
    zone: ZoneInfo,
    wants: dict[int, str],
) -> Row:
    preparation: Preparation | None = appointment.preparation
    levels = flags.get(preparation.id, []) if preparation else []
    asked = questionnaire_of(preparation) if preparation else None
    status = preparation.status if preparation else PreparationStatus.NOT_STARTED
    if status == PreparationStatus.NOT_STARTED and preparation and preparation.id in invited:
        status = INVITED
    return Row(
        appointment_id=appointment.id,
        starts_at=appointment.starts_at.astimezone(zone),
        patient_name=appointment.patient.name,
        date_of_birth=appointment.patient.date_of_birth.isoformat(),
        status=status,
        answered=answered.get(preparation.id, 0) if preparation else 0,
        questions=len(asked.flow) if asked else len(PREPARE.flow),
        open_flags=len(levels),
        worst_flag=min(levels, key=_severity) if levels else None,
        shared=preparation.consent_to_share if preparation else None,
        read_at=appointment.record_read_at.astimezone(zone) if appointment.record_read_at else None,
        cancelled=appointment.status == "cancelled",
        kind=appointment.kind,
        wants=wants.get(preparation.id) if preparation else None,
    )


def _shown(row: Row, show: str | None) -> bool:
    if show is None:
        return True
    if show == "concerns":
        return row.open_flags > 0
    if show == "unread":
        return _unread(row)
    if show == "requests":
        return row.open_request
    return row.status == show


def _unread(row: Row) -> bool:
    """Say whether a record is prepared and shared, and nobody has read it yet."""
    return row.status == PreparationStatus.COMPLETE and row.shared is True and row.read_at is None


def counts(rows: list[Row]) -> Counts:
    """Count the rows by what a practice manager asks first."""
    return Counts(
        total=len(rows),
        complete=sum(r.status == PreparationStatus.COMPLETE for r in rows),
        in_progress=sum(r.status == PreparationStatus.IN_PROGRESS for r in rows),
        not_started=sum(r.status == PreparationStatus.NOT_STARTED for r in rows),
        invited=sum(r.status == INVITED for r in rows),
        with_concerns=sum(r.open_flags > 0 for r in rows),
        unread=sum(_unread(r) for r in rows),
        requests=sum(r.open_request for r in rows),
    )


def appointment_of_practice(
    session: Session, practice_id: int, appointment_id: int
) -> Appointment | None:
    """Return the appointment if it is this practice's; None otherwise (another's looks unknown)."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.practice_id != practice_id:
        return None
    return appointment


def mark_read(session: Session, appointment: Appointment, by: str, now: datetime) -> None:
    """Record that a practitioner has read the record (the first reading is kept)."""
    if appointment.record_read_at is None:
        appointment.record_read_at = now
        appointment.record_read_by = by
