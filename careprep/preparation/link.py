"""The invitation link: what a web chat link opens, and the date-of-birth check behind it.

The link's token (``Preparation.link_token``) only names a preparation; it is not the
conversation's sender id, which the web app looks up on the server and never sends to
the browser. A link opens nothing once the appointment is past or cancelled, and
every link that opens nothing looks the same, so it says nothing about anyone.
A forwarded link still asks for the date of birth before anything personal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from sqlalchemy.orm import Session

from careprep.messaging.reminders import CARE_PLANNING, REVIEW_OPEN_FOR
from careprep.patients.identity import IdentityCheck, check_date_of_birth, is_locked
from careprep.preparation.progress import find_by_link
from careprep.store.models import Preparation

WEB_CHAT = "in the web chat"
"""How the identity flag names where the check failed."""


class LinkState(str, Enum):
    """What a link opens."""

    OPEN = "open"
    CLOSED = "closed"
    """Unknown, cancelled, or for an appointment that has passed: all alike to the visitor."""
    LOCKED = "locked"
    """The date-of-birth check failed too often: the patient is asked to call the practice."""


@dataclass(frozen=True)
class OpenedLink:
    """A link as the web app may use it: its state and, when open, whose conversation."""

    state: LinkState
    preparation_id: int | None = None
    sender_id: str | None = None
    practice: str | None = None
    review: bool = False
    """Whether the link opens the review of a care plan (not a preparation)."""


def open_link(session: Session, link_token: str, now: datetime) -> OpenedLink:
    """Return what the link opens at ``now``."""
    preparation = find_by_link(session, link_token) if len(link_token) <= 64 else None
    if preparation is None or _closed(preparation, now):
        return OpenedLink(LinkState.CLOSED)
    practice = preparation.appointment.practice.name
    if is_locked(preparation):
        return OpenedLink(LinkState.LOCKED, preparation.id, practice=practice)
    review = preparation.appointment.kind != CARE_PLANNING
    return OpenedLink(LinkState.OPEN, preparation.id, preparation.invite_token, practice, review)


def _closed(preparation: Preparation, now: datetime) -> bool:
    appointment = preparation.appointment
    if appointment.status == "cancelled":
        return True
    if appointment.kind == CARE_PLANNING:
        return appointment.starts_at <= now
    return not appointment.starts_at <= now <= appointment.starts_at + REVIEW_OPEN_FOR


@dataclass(frozen=True)
class DateOfBirthTry:
    """One try at the web chat's check: the outcome, or why the date could not be read."""

    check: IdentityCheck | None
    problem: str | None = None


def check_link_date_of_birth(
    session: Session, preparation_id: int, day: str, month: str, year: str
) -> DateOfBirthTry:
    """Check a date of birth given as day, month and year; count it with the SMS tries."""
    preparation = session.get(Preparation, preparation_id)
    if preparation is None:
        raise LookupError("no such preparation")
    born, problem = read_day_month_year(day, month, year, date.today())
    if born is None:
        return DateOfBirthTry(None, problem)
    return DateOfBirthTry(check_date_of_birth(session, preparation, born, WEB_CHAT))


def read_day_month_year(
    day: str, month: str, year: str, today: date
) -> tuple[date | None, str | None]:
    """Read the three boxes of a date of birth; return the date, or what is wrong with it."""
    parts = [part.strip() for part in (day, month, year)]
    if not all(parts):
        return None, "Enter your date of birth, with a day, a month and a year."
    if not all(part.isdigit() for part in parts) or len(parts[2]) != 4:
        return None, "Enter your date of birth in numbers, for example 31 3 1950."
    try:
        born = date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return None, "Your date of birth must be a real date."
    if born > today:
        return None, "Your date of birth must be in the past."
    return born, None
