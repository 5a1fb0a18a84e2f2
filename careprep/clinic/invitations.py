"""Invitations: the first text a patient gets, queued when an appointment is booked."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from careprep.preparation import messages
from careprep.preparation.progress import appointment_words
from careprep.store.models import Appointment, OutboxMessage, utcnow

INVITATION = "invitation"
"""The outbox kind of an invitation."""


def chat_link(web_url: str, appointment: Appointment) -> str:
    """Return the invitation link that opens the patient's web chat."""
    return f"{web_url}/chat/{appointment.preparation.link_token}"


def invitation_text(appointment: Appointment, zone: str, web_url: str) -> str:
    """Return the invitation: who from, when (in zone), what for, the link, where to get help."""
    return messages.INVITATION.format(
        practice=appointment.practice.name,
        appointment=appointment_words(appointment.preparation, zone),
        link=chat_link(web_url, appointment),
    )


def queue_invitation(
    session: Session, appointment: Appointment, zone: str, web_url: str
) -> OutboxMessage:
    """Queue the invitation (reply by text, or open the link), due ``invite_days`` before.

    The practice's ``invite_days`` before the appointment, or at once if that has passed;
    its quiet hours apply when the worker sends it.
    """
    invitation = OutboxMessage(
        patient_id=appointment.patient_id,
        preparation_id=appointment.preparation.id,
        kind=INVITATION,
        body=invitation_text(appointment, zone, web_url),
        due_at=max(
            utcnow(), appointment.starts_at - timedelta(days=appointment.practice.invite_days)
        ),
    )
    session.add(invitation)
    return invitation
