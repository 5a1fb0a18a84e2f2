"""Invitations: the first text a patient gets, queued when an appointment is booked."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from careprep.preparation import messages
from careprep.preparation.progress import appointment_words
from careprep.store.models import Appointment, OutboxMessage, utcnow

INVITATION = "invitation"
"""The outbox kind of an invitation."""

DAYS_BEFORE = 7
"""Invitations go out this long before the appointment (at once if it is sooner)."""


def invitation_text(appointment: Appointment, zone: str) -> str:
    """Return the invitation: who from, when (in zone), what for, how long, where to get help."""
    return messages.INVITATION.format(
        practice=appointment.practice.name,
        appointment=appointment_words(appointment.preparation, zone),
    )


def queue_invitation(session: Session, appointment: Appointment, zone: str) -> OutboxMessage:
    """Put the invitation in the outbox, due DAYS_BEFORE the appointment."""
    invitation = OutboxMessage(
        patient_id=appointment.patient_id,
        preparation_id=appointment.preparation.id,
        kind=INVITATION,
        body=invitation_text(appointment, zone),
        due_at=max(utcnow(), appointment.starts_at - timedelta(days=DAYS_BEFORE)),
    )
    session.add(invitation)
    return invitation
