"""The date-of-birth check that comes before anything personal is sent by SMS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from careprep.safety.flags import raise_flag
from careprep.store.models import Preparation, utcnow

MAX_TRIES = 3
IDENTITY_FLAG = "identity"


@dataclass(frozen=True)
class IdentityCheck:
    """The outcome of one try: confirmed, locked after too many tries, or tries left."""

    confirmed: bool
    locked: bool
    tries_left: int


def is_locked(preparation: Preparation) -> bool:
    """Whether the SMS check failed too often for this preparation."""
    return preparation.identity_locked_at is not None


def check_date_of_birth(
    session: Session, preparation: Preparation, born: date, where: str = "by SMS"
) -> IdentityCheck:
    """Compare a date of birth with the patient's; lock and flag after MAX_TRIES wrong ones.

    Tries by SMS and in the web chat count together; ``where`` names this one in the flag.
    """
    if is_locked(preparation):
        return IdentityCheck(confirmed=False, locked=True, tries_left=0)
    if born == preparation.appointment.patient.date_of_birth:
        preparation.identity_verified_at = utcnow()
        preparation.identity_failures = 0
        return IdentityCheck(confirmed=True, locked=False, tries_left=MAX_TRIES)
    preparation.identity_failures = (preparation.identity_failures or 0) + 1
    tries_left = MAX_TRIES - preparation.identity_failures
    if tries_left > 0:
        return IdentityCheck(confirmed=False, locked=False, tries_left=tries_left)
    preparation.identity_locked_at = utcnow()
    raise_flag(
        session,
        preparation,
        IDENTITY_FLAG,
        f"The date of birth check {where} failed {MAX_TRIES} times; the conversation was stopped.",
        "identity",
    )
    return IdentityCheck(confirmed=False, locked=True, tries_left=0)
