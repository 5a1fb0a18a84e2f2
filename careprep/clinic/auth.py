"""Signing practitioners in: argon2 passwords, and a lock after five failures in a row.

The answer to a failed sign-in is the same whether the e-mail is unknown, the password
is wrong or the account is locked, and an unknown e-mail costs the same argon2 work,
so neither the words nor the time tell anyone which e-mails exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careprep.clinic.audit import record_access
from careprep.store.models import Practitioner

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
ROLES = ("clinician", "admin")

_hasher = PasswordHasher()
_NOBODY = _hasher.hash("a password that no practitioner has")


@dataclass(frozen=True)
class SignedIn:
    """Who is signed in: enough to check what they may see, without the database row."""

    practitioner_id: int
    practice_id: int
    email: str
    role: str
    since: float

    @property
    def is_admin(self) -> bool:
        """Whether they may also upload appointments, manage practitioners, read the audit."""
        return self.role == "admin"


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, email: str, password: str, now: datetime) -> SignedIn | None:
    """Return who signed in, or None (the same None for every reason it failed)."""
    email = email.strip().lower()
    practitioner = session.scalars(
        select(Practitioner).where(func.lower(Practitioner.email) == email)
    ).first()
    if practitioner is None or not practitioner.active:
        _verify(_NOBODY, password)
        return None
    locked = practitioner.locked_until is not None and practitioner.locked_until > now
    right = _verify(practitioner.password_hash, password)
    if locked:
        record_access(
            session,
            practitioner.email,
            "sign_in_while_locked",
            practice_id=practitioner.practice_id,
        )
        return None
    if not right:
        practitioner.failed_logins += 1
        action = "sign_in_failed"
        if practitioner.failed_logins >= MAX_FAILURES:
            practitioner.locked_until = now + LOCK_FOR
            practitioner.failed_logins = 0
            action = "locked"
        record_access(session, practitioner.email, action, practice_id=practitioner.practice_id)
        return None
    practitioner.failed_logins = 0
    practitioner.locked_until = None
    practitioner.last_login_at = now
    if _hasher.check_needs_rehash(practitioner.password_hash):
        practitioner.password_hash = _hasher.hash(password)
    record_access(session, practitioner.email, "signed_in", practice_id=practitioner.practice_id)
    return signed_in(practitioner, now.timestamp())


def signed_in(practitioner: Practitioner, since: float) -> SignedIn:
    """Return the signed-in view of a practitioner who signed in at ``since`` (a timestamp)."""
    return SignedIn(
        practitioner.id, practitioner.practice_id, practitioner.email, practitioner.role, since
    )


def still_allowed(session: Session, who: SignedIn) -> SignedIn | None:
    """Return who is signed in as the store has them now.

    None if they were removed or stopped, or signed out (anywhere) since this sign-in:
    a copied cookie is worth nothing after its owner signs out.
    """
    practitioner = session.get(Practitioner, who.practitioner_id)
    if practitioner is None or not practitioner.active:
        return None
    signed_out = practitioner.signed_out_at
    if signed_out is not None and signed_out.timestamp() >= who.since:
        return None
    return signed_in(practitioner, who.since)


def sign_out(session: Session, who: SignedIn, now: datetime) -> None:
    """End every session this practitioner has open, and note it in the audit trail."""
    practitioner = session.get(Practitioner, who.practitioner_id)
    if practitioner is not None:
        practitioner.signed_out_at = now
        record_access(
            session, practitioner.email, "signed_out", practice_id=practitioner.practice_id
        )


def practitioners(session: Session, practice_id: int) -> list[Practitioner]:
    """Return a practice's practitioners, by e-mail."""
    query = select(Practitioner).where(Practitioner.practice_id == practice_id)
    return list(session.scalars(query.order_by(Practitioner.email)))


def set_active(
    session: Session, practice_id: int, practitioner_id: int, active: bool
) -> Practitioner | None:
    """Turn a practitioner of this practice on or off (None if they are not of this practice)."""
    practitioner = session.get(Practitioner, practitioner_id)
    if practitioner is None or practitioner.practice_id != practice_id:
        return None
    practitioner.active = active
    if active:
        practitioner.failed_logins = 0
        practitioner.locked_until = None
    return practitioner
