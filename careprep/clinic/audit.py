"""The audit trail: who read or exported which record, and when. Rows are only ever added."""

from __future__ import annotations

import getpass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.store.models import Appointment, AuditEvent


def record_access(
    session: Session,
    actor: str,
    action: str,
    appointment_id: int | None = None,
    practice_id: int | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add one event to the trail; the practice is the appointment's when one is named."""
    if practice_id is None and appointment_id is not None:
        appointment = session.get(Appointment, appointment_id)
        practice_id = appointment.practice_id if appointment else None
    event = AuditEvent(
        practice_id=practice_id,
        actor=actor,
        action=action,
        appointment_id=appointment_id,
        detail=detail,
    )
    session.add(event)
    session.flush()
    return event


def trail(
    session: Session, practice_id: int, since: datetime | None = None, limit: int = 200
) -> list[AuditEvent]:
    """Return a practice's events, newest first."""
    query = select(AuditEvent).where(AuditEvent.practice_id == practice_id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    return list(
        session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit))
    )


def command_line_actor() -> str:
    """Return who is exporting from the command line: the operating system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
