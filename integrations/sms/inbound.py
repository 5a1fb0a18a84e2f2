"""Each inbound SMS answered once: its MessageSid is claimed under a lease, and its reply kept.

Twilio delivers a message again when a delivery fails or times out, always within 15 seconds of
the first one (its limit on the total time of a webhook). The delivery that claims a MessageSid
runs the turn and renews the claim's lease while the turn runs. A completed turn keeps its reply,
for later deliveries to replay, and clears the lease; a turn that fails clears the lease without a
reply, so the next delivery runs it again. If the process running a turn dies, nobody renews its
lease, and a later delivery takes the claim over once the lease has run out. Running a turn again
is safe: answers are written idempotently (a re-answer updates the same row).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careprep.store import session_scope
from careprep.store.models import InboundSms, utcnow

TURN_LEASE = timedelta(seconds=8)
"""How long a claim holds unless its turn renews it (it does, every quarter of this, while alive).

A turn whose process died must be taken over while Twilio is still delivering the message, that
is within 15 seconds of the first delivery, so the lease is short; a slow turn that is alive keeps
renewing it, so it is not run twice. Eight seconds lets Rasa's event loop, which also runs the
model's predictions, stall for six seconds between two renewals.
"""


def _upsert(session: Session) -> Any:
    """Return the ``insert`` that knows ``ON CONFLICT`` for the session's database."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def claim(url: str, sid: str, lease: timedelta = TURN_LEASE) -> int | None:
    """Claim a MessageSid for a turn; return the attempt number, or None if it is not free.

    A MessageSid is free when it is new, or has no reply and no lease that is still running. One
    statement (an insert that updates on conflict, only where the row is free) takes the claim,
    so of concurrent deliveries, on SQLite or PostgreSQL, exactly one gets it.
    """
    now = utcnow()
    with session_scope(url) as session:
        insert = _upsert(session)(InboundSms).values(
            message_sid=sid, received_at=now, lease_until=now + lease, attempts=1
        )
        taken = session.execute(
            insert.on_conflict_do_update(
                index_elements=[InboundSms.message_sid],
                set_={"lease_until": now + lease, "attempts": InboundSms.attempts + 1},
                where=InboundSms.reply.is_(None)
                & or_(InboundSms.lease_until.is_(None), InboundSms.lease_until < now),
            )
        )
        if taken.rowcount != 1:
            return None
        attempt: int = session.execute(
            select(InboundSms.attempts).where(InboundSms.message_sid == sid)
        ).scalar_one()
        return attempt


def renew(url: str, sid: str, attempt: int, lease: timedelta = TURN_LEASE) -> bool:
    """Extend the lease of a claim that this attempt still holds; return whether it did."""
    with session_scope(url) as session:
        renewed = session.execute(
            update(InboundSms)
            .where(
                InboundSms.message_sid == sid,
                InboundSms.attempts == attempt,
                InboundSms.reply.is_(None),
                InboundSms.lease_until.is_not(None),
            )
            .values(lease_until=utcnow() + lease)
        )
        return bool(renewed.rowcount == 1)


def complete(url: str, sid: str, reply: str) -> None:
    """Keep the reply of a finished turn (the first to finish wins) and clear the lease."""
    with session_scope(url) as session:
        session.execute(
            update(InboundSms)
            .where(InboundSms.message_sid == sid, InboundSms.reply.is_(None))
            .values(reply=reply, lease_until=None)
        )


def release(url: str, sid: str, attempt: int) -> None:
    """Give up the claim of a turn that failed, so that the next delivery runs it again."""
    with session_scope(url) as session:
        session.execute(
            update(InboundSms)
            .where(
                InboundSms.message_sid == sid,
                InboundSms.attempts == attempt,
                InboundSms.reply.is_(None),
            )
            .values(lease_until=None)
        )


def stored_reply(url: str, sid: str) -> str | None:
    """Return the reply kept for a MessageSid, or None while it has none."""
    with session_scope(url) as session:
        reply: str | None = session.execute(
            select(InboundSms.reply).where(InboundSms.message_sid == sid)
        ).scalar_one_or_none()
        return reply
