"""The outbox's states, and what Twilio's delivery reports do to them."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.messaging.sender import OPTED_OUT
from careprep.messaging.states import OutboxState
from careprep.patients.contacts import set_opted_out
from careprep.store.models import OutboxMessage, Patient

log = logging.getLogger(__name__)


_FINAL_REPORTS = {
    "delivered": OutboxState.DELIVERED,
    "undelivered": OutboxState.UNDELIVERED,
    "failed": OutboxState.FAILED,
}


def record_delivery_status(
    session: Session, message_sid: str, status: str, error_code: str | None = None
) -> bool:
    """Record Twilio's delivery report for a message; return whether the sid is one of ours.

    Only final reports change the state (``queued``, ``sent`` and the like are not news), and a
    delivered message stays delivered, however late another report arrives.
    """
    message = session.execute(
        select(OutboxMessage).where(OutboxMessage.provider_sid == message_sid)
    ).scalar_one_or_none()
    if message is None:
        return False
    state = _FINAL_REPORTS.get(status)
    if state is None or message.state == OutboxState.DELIVERED:
        return True
    message.state = state
    if error_code:
        message.last_error = f"Twilio error {error_code} ({status})"
        if error_code == str(OPTED_OUT):
            record_opt_out(session, message)
    log.info("outbox message %s %s (Twilio error %s)", message.id, state, error_code or "none")
    return True


def record_opt_out(session: Session, message: OutboxMessage) -> None:
    """Record that the message's recipient has opted out, as Twilio told us."""
    patient = session.get(Patient, message.patient_id)
    set_opted_out(session, patient.phone, True)
