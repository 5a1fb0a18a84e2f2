"""Builders for test data in a real store."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from careprep.clinic.appointments import NewAppointment, add_appointment
from careprep.store.models import Appointment

_SLOTS = itertools.count()


def book(
    session: Session,
    practice: str = "Hill Surgery",
    name: str = "Ann Example",
    phone: str = "07700 900123",
    dob: str = "1950-02-03",
    days_ahead: int = 10,
) -> Appointment:
    """Book an appointment a few days ahead (each call a new time), with its preparation."""
    at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(
        days=days_ahead, minutes=15 * next(_SLOTS)
    )
    appointment, _ = add_appointment(
        session,
        NewAppointment(
            practice=practice, patient_name=name, phone=phone, dob=dob, at=at.isoformat()
        ),
        "Europe/London",
    )
    return appointment
