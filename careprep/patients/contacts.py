"""Patients as their phone numbers: which preparation a text belongs to, and SMS opt-out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.messaging.reminders import (
    CARE_PLANNING,
    REVIEW,
    REVIEW_OPEN_FOR,
    Reason,
    cancel_for_patients,
)
from careprep.store.models import Appointment, Patient, Preparation, utcnow

STILL_UPCOMING = timedelta(hours=2)
"""An appointment counts as upcoming until this long after it starts."""


def patients_with_phone(session: Session, phone: str) -> list[Patient]:
    """Return every patient with this E.164 number (a family may share one)."""
    return list(session.execute(select(Patient).where(Patient.phone == phone)).scalars())


def preparation_for_phone(session: Session, phone: str) -> Preparation | None:
    """Return the preparation a text from this number belongs to, if any.

    A review that is open (its date has come, ``REVIEW_OPEN_FOR`` has not passed) comes
    first, as the patient is answering its reminder; otherwise the preparation for the
    soonest upcoming care planning appointment.
    """
    now = utcnow()
    mine = (
        select(Preparation)
        .join(Appointment, Preparation.appointment_id == Appointment.id)
        .join(Patient, Appointment.patient_id == Patient.id)
        .where(Patient.phone == phone, Appointment.status == "booked")
    )
    review = session.execute(
        mine.where(
            Appointment.kind == REVIEW,
            Appointment.starts_at <= now,
            Appointment.starts_at >= now - REVIEW_OPEN_FOR,
        )
        .order_by(Appointment.starts_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if review is not None:
        return review
    return session.execute(
        mine.where(
            Appointment.kind == CARE_PLANNING,
            Appointment.starts_at >= now - STILL_UPCOMING,
        )
        .order_by(Appointment.starts_at)
        .limit(1)
    ).scalar_one_or_none()


def is_opted_out(session: Session, phone: str) -> bool:
    """Whether this number has opted out of text messages."""
    return any(patient.sms_opted_out_at for patient in patients_with_phone(session, phone))


def set_opted_out(session: Session, phone: str, opted_out: bool) -> int:
    """Record an SMS opt-out (or opt-in) for every patient with this number; return how many.

    An opt-out cancels every message still waiting to go to them, with the reason.
    """
    patients = patients_with_phone(session, phone)
    for patient in patients:
        patient.sms_opted_out_at = utcnow() if opted_out else None
    if opted_out and patients:
        cancel_for_patients(session, patients, Reason.OPTED_OUT)
    return len(patients)
