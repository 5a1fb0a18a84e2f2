"""Builders for test data in a real store, and the settings a test hands to the code it runs."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.clinic.appointments import NewAppointment, add_appointment
from careprep.settings import Settings
from careprep.store.models import Appointment, Patient

_SLOTS = itertools.count()
DRAMA_MOBILES = [f"07700 900{number:03d}" for number in range(100, 1000)]
"""Mobile numbers Ofcom keeps for drama: never a real person's."""


def make_settings(database_url: str, var_dir: Path, **overrides: Any) -> Settings:
    """Settings for code a test runs in its own process: this store, nothing sent anywhere."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "public_url": "https://careprep.example.org",
        "web_url": "http://careprep.test",
        "secret_key": "test-secret-key",
        "var_dir": var_dir,
        "twilio_account_sid": None,
        "twilio_auth_token": None,
        "twilio_from_number": None,
        "twilio_api_base_url": None,
        "timezone": "Europe/London",
    }
    return Settings(**{**values, **overrides})


def unused_phone(session: Session) -> str:
    """Return a drama mobile number that no patient in this store has yet."""
    taken = set(session.execute(select(Patient.phone)).scalars())
    for phone in DRAMA_MOBILES:
        if "+44" + phone.replace(" ", "")[1:] not in taken:
            return phone
    raise RuntimeError("every drama mobile number is taken in this store")


def book(
    session: Session,
    practice: str = "Hill Surgery",
    name: str = "Ann Example",
    phone: str | None = None,
    dob: str = "1950-02-03",
    days_ahead: int = 10,
) -> Appointment:
    """Book an appointment a few days ahead (each call a new time), with its preparation.

    Without a phone, the patient gets a number no other patient in the store has, so that a
    text from it reaches this appointment whatever else the store holds.
    """
    at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(
        days=days_ahead, minutes=15 * next(_SLOTS)
    )
    appointment, _ = add_appointment(
        session,
        NewAppointment(
            practice=practice,
            patient_name=name,
            phone=phone or unused_phone(session),
            dob=dob,
            at=at.isoformat(),
        ),
        "Europe/London",
    )
    return appointment


PREPARED_ANSWERS: dict[str, Any] = {
    "consent_start": "yes",
    "what_matters": "My grandchildren and my garden",
    "going_well": "I walk to church every Sunday",
    "not_going_well": "My knees hurt on the stairs and I feel lonely since Bill died",
    "good_day": "No pain and a visit from my son",
    "goals": ["Walk to the shops without stopping", "Sleep through the night"],
    "topics": "2 4 my knees",
    "questions": "Can I take ibuprofen with my tablets?",
    "support": "My daughter Jo. I'd like her to come with me.",
    "confidence": "4",
    "needs": "4",
    "review_interval": "Every 6 months",
    "readback": "yes",
    "consent_share": "yes",
}
"""A whole preparation as a patient might give it: each question's reply as sent."""


def prepare(
    session: Session,
    appointment: Appointment,
    answers: dict[str, Any] | None = None,
    channel: str = "sms",
    complete: bool = True,
) -> None:
    """Record replies through the core, as the conversation does; goals are a list of texts.

    ``answers`` are merged over ``PREPARED_ANSWERS``; a value of None leaves a question
    unanswered (not reached).
    """
    from careprep.preparation.answers import read_answer
    from careprep.preparation.progress import questionnaire_of, record_answer, record_complete

    preparation = appointment.preparation
    asked = questionnaire_of(preparation)
    for question_id, reply in {**PREPARED_ANSWERS, **(answers or {})}.items():
        if reply is None:
            continue
        if isinstance(reply, list):
            record_answer(session, preparation, question_id, reply, reply[-1], channel)
            continue
        value = read_answer(asked.question(question_id), reply)
        record_answer(session, preparation, question_id, value, reply, channel)
    if complete:
        record_complete(preparation)
    session.flush()
