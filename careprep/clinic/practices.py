"""A practice's messaging settings, set with ``careprep practice set``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from careprep.clinic.appointments import InputError, practice_named
from careprep.messaging.schedule import NO_QUIET_HOURS, BadQuietHours, QuietHours
from careprep.store.models import Practice

MAX_DAYS = 60
"""The furthest ahead of an appointment an invitation or a nudge may go."""
MAX_SEND_RATE = 100
"""Messages a second; Twilio's short codes go to 100, a UK long code takes 10."""


@dataclass(frozen=True)
class MessagingChange:
    """What ``careprep practice set`` was asked to change (None: leave as it is)."""

    quiet_hours: str | None = None
    invite_days: int | None = None
    nudge_days: int | None = None
    send_rate: int | None = None


def quiet_hours_of(practice: Practice) -> QuietHours | None:
    """Return the practice's quiet hours (None: it may send at any hour, Sundays apart)."""
    return QuietHours.parse(practice.quiet_hours)


def _days(value: int, what: str) -> int:
    if not 0 <= value <= MAX_DAYS:
        raise InputError(f"{what} must be a whole number of days from 0 to {MAX_DAYS}")
    return value


def set_messaging(session: Session, name: str, change: MessagingChange) -> Practice:
    """Change an existing practice's messaging settings; raise InputError on a bad value."""
    practice = practice_named(session, name, create=False)
    if change.quiet_hours is not None:
        try:
            quiet = QuietHours.parse(change.quiet_hours)
        except BadQuietHours as problem:
            raise InputError(str(problem)) from problem
        practice.quiet_hours = str(quiet) if quiet else NO_QUIET_HOURS
    if change.invite_days is not None:
        practice.invite_days = _days(change.invite_days, "--invite-days")
    if change.nudge_days is not None:
        practice.nudge_days = _days(change.nudge_days, "--nudge-days")
    if change.send_rate is not None:
        if not 1 <= change.send_rate <= MAX_SEND_RATE:
            raise InputError(f"--send-rate must be from 1 to {MAX_SEND_RATE} messages a second")
        practice.send_rate = change.send_rate
    if practice.nudge_days > practice.invite_days:
        raise InputError("the nudge must come after the invitation: --nudge-days <= --invite-days")
    session.flush()
    return practice


def describe_messaging(practice: Practice) -> dict[str, Any]:
    """Return the practice's messaging settings as printed by ``careprep practice set``."""
    return {
        "practice": practice.name,
        "quiet_hours": practice.quiet_hours,
        "sundays": "no messages",
        "invite_days": practice.invite_days,
        "nudge_days": practice.nudge_days,
        "send_rate": practice.send_rate,
    }
