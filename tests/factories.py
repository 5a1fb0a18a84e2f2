"""Builders for test data in a real store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from bot.appointments import NewAppointment, add_appointment
from bot.store.models import Appointment


def book(
    session: Session,
    practice: str = "Hill Surgery",
    name: str = "Ann Example",
    phone: str = "07700 900123",
    dob: str = "1950-02-03",
    days_ahead: int = 10,
) -> Appointment:
    """Book an appointment a few days ahead, with its preparation."""
    at = (datetime.now(timezone.utc) + timedelta(days=days_ahead)).replace(microsecond=0)
    appointment, _ = add_appointment(
        session,
        NewAppointment(practice=practice, patient_name=name, phone=phone, dob=dob, at=at.isoformat()),
        "Europe/London",
    )
    return appointment
