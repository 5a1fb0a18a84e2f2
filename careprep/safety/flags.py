"""Safety flags in the store: raised by the conversation, listed and handled by the practice."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.clinic.appointments import InputError
from careprep.safety import Versions, versions
from careprep.store.models import Practice, Preparation, SafetyFlag, utcnow


def raise_flag(
    session: Session,
    preparation: Preparation,
    level: str,
    message: str,
    question_id: str | None,
    detected_by: str | None = None,
    found_by: Versions | None = None,
) -> SafetyFlag:
    """Store a flag for the practice: its level, the whole message and where it came.

    ``level`` is a safety level (``Level.value``) or ``identity`` for a failed SMS check;
    ``detected_by`` says which net found a concern (``rules`` or ``classifier``), and
    the versions of both nets are kept with it: ``found_by`` (the concern's own), or else
    those this process has loaded.
    """
    appointment = preparation.appointment
    in_use = (found_by or versions()) if detected_by else None
    flag = SafetyFlag(
        practice_id=appointment.practice_id,
        patient_id=appointment.patient_id,
        preparation_id=preparation.id,
        level=level,
        message=message,
        question_id=question_id,
        pattern_version=in_use.patterns if in_use else None,
        classifier_version=in_use.classifier if in_use else None,
        detected_by=detected_by,
    )
    session.add(flag)
    session.flush()
    return flag


def open_flags(session: Session, practice_name: str | None = None) -> list[SafetyFlag]:
    """Return the flags nobody has handled yet, newest first."""
    query = select(SafetyFlag).where(SafetyFlag.handled_at.is_(None))
    if practice_name is not None:
        practice = session.execute(
            select(Practice).where(Practice.name == practice_name.strip())
        ).scalar_one_or_none()
        if practice is None:
            raise InputError(f"there is no practice called {practice_name!r}")
        query = query.where(SafetyFlag.practice_id == practice.id)
    return list(
        session.execute(query.order_by(SafetyFlag.raised_at.desc(), SafetyFlag.id.desc())).scalars()
    )


def handle_flag(session: Session, flag_id: int, by: str) -> SafetyFlag:
    """Mark a flag handled, keeping who handled it and when."""
    flag = session.get(SafetyFlag, flag_id)
    if flag is None:
        raise InputError(f"there is no flag {flag_id}")
    if flag.handled_at is not None:
        raise InputError(f"flag {flag_id} was already handled by {flag.handled_by}")
    who = by.strip().lower()
    if "@" not in who:
        raise InputError(f"{by!r} is not an email address")
    flag.handled_at = utcnow()
    flag.handled_by = who
    return flag
