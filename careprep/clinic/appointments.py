"""Practices, practitioners, patients and appointments: how a practice sets up a preparation."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careprep.messaging.reminders import (
    CARE_PLANNING,
    cancel_appointment,
    chat_link,
    reschedule,
    schedule,
)
from careprep.store.models import (
    Appointment,
    Patient,
    Practice,
    Practitioner,
    Preparation,
    utcnow,
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_NAME = 200


class InputError(ValueError):
    """Input a person typed that cannot be used; the message says why in one line."""


def parse_phone(text: str, region: str = "GB") -> str:
    """Return a phone number in E.164 form (UK formats such as 07700 900123 accepted)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as problem:
        raise InputError(f"phone number {text!r} is not a phone number") from problem
    if not phonenumbers.is_possible_number(number):
        raise InputError(f"phone number {text!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_date_of_birth(text: str, today: date | None = None) -> date:
    """Return a date of birth given as YYYY-MM-DD; it must be in the past 120 years."""
    try:
        born = date.fromisoformat(text.strip())
    except ValueError as problem:
        raise InputError(
            f"date of birth {text!r} is not a date in the form YYYY-MM-DD"
        ) from problem
    today = today or date.today()
    if born > today:
        raise InputError(f"date of birth {text} is in the future")
    if today.year - born.year > 120:
        raise InputError(f"date of birth {text} is more than 120 years ago")
    return born


def parse_appointment_time(text: str, zone: str, now: datetime | None = None) -> datetime:
    """Return an ISO 8601 time as UTC; a time without a zone is local to the practice."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as problem:
        raise InputError(
            f"appointment time {text!r} is not an ISO 8601 time such as 2026-12-01T10:30"
        ) from problem
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    moment = moment.astimezone(timezone.utc)
    if moment <= (now or utcnow()):
        raise InputError(f"appointment time {text} is in the past")
    return moment


def _name(text: str, what: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InputError(f"{what} is empty")
    if len(cleaned) > MAX_NAME:
        raise InputError(f"{what} is longer than {MAX_NAME} characters")
    return cleaned


def practice_named(session: Session, name: str, create: bool = True) -> Practice:
    """Return the practice with this name, creating it if asked to."""
    name = _name(name, "practice name")
    practice = session.execute(select(Practice).where(Practice.name == name)).scalar_one_or_none()
    if practice is None:
        if not create:
            raise InputError(f"there is no practice called {name!r}")
        practice = Practice(name=name)
        session.add(practice)
        session.flush()
    return practice


def add_practitioner(
    session: Session, practice_name: str, email: str, password: str, role: str = "clinician"
) -> Practitioner:
    """Add a practitioner who can sign in to read records (the password is stored hashed)."""
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise InputError(f"email {email!r} is not an email address")
    if len(password) < 10:
        raise InputError("the password must be at least 10 characters")
    if session.execute(select(Practitioner).where(Practitioner.email == email)).first():
        raise InputError(f"a practitioner with email {email} already exists")
    practitioner = Practitioner(
        practice=practice_named(session, practice_name),
        email=email,
        password_hash=PasswordHasher().hash(password),
        role=role,
    )
    session.add(practitioner)
    session.flush()
    return practitioner


@dataclass(frozen=True)
class NewAppointment:
    """What a practice gives to book a preparation."""

    practice: str
    patient_name: str
    phone: str
    dob: str
    at: str
    practitioner: str | None = None


def add_appointment(
    session: Session, request: NewAppointment, zone: str, invite_from: str | None = None
) -> tuple[Appointment, bool]:
    """Add an appointment and its preparation; return it and whether it is new.

    Adding the same patient at the same time again returns the existing one,
    so an import can be run twice safely. With ``invite_from`` (the web app's address)
    the SMS invitation (carrying the web chat link) and the nudge are queued in the outbox.
    """
    practice = practice_named(session, request.practice)
    name = _name(request.patient_name, "patient name")
    phone = parse_phone(request.phone)
    born = parse_date_of_birth(request.dob)
    starts_at = parse_appointment_time(request.at, zone)
    practitioner = None
    if request.practitioner:
        email = request.practitioner.strip().lower()
        practitioner = session.execute(
            select(Practitioner).where(
                Practitioner.email == email, Practitioner.practice_id == practice.id
            )
        ).scalar_one_or_none()
        if practitioner is None:
            raise InputError(f"there is no practitioner {email} at {practice.name}")
    patient = session.execute(
        select(Patient).where(
            Patient.practice_id == practice.id,
            Patient.phone == phone,
            Patient.date_of_birth == born,
        )
    ).scalar_one_or_none()
    if patient is None:
        patient = Patient(practice=practice, name=name, phone=phone, date_of_birth=born)
        session.add(patient)
        session.flush()
    existing = session.execute(
        select(Appointment).where(
            Appointment.patient_id == patient.id, Appointment.starts_at == starts_at
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    appointment = Appointment(
        practice=practice, patient=patient, practitioner=practitioner, starts_at=starts_at
    )
    session.add(appointment)
    session.add(Preparation(appointment=appointment))
    session.flush()
    if invite_from is not None:
        schedule(session, appointment, zone, invite_from)
    return appointment, True


def describe_appointment(appointment: Appointment, web_url: str, created: bool) -> dict[str, Any]:
    """Return what the CLI prints for an appointment."""
    return {
        "appointment_id": appointment.id,
        "invite_url": chat_link(web_url, appointment),
        "patient_id": appointment.patient_id,
        "practice": appointment.practice.name,
        "starts_at": appointment.starts_at.isoformat(),
        "created": created,
    }


def booked_appointment(session: Session, appointment_id: int) -> Appointment:
    """Return a booked care planning appointment; InputError if there is none by that id."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.kind != CARE_PLANNING:
        raise InputError(f"there is no appointment {appointment_id}")
    if appointment.status != "booked":
        raise InputError(f"appointment {appointment_id} is already {appointment.status}")
    return appointment


MAX_REASON = 500


def cancel_booking(session: Session, appointment_id: int, reason: str) -> dict[str, Any]:
    """Cancel an appointment, its reviews and the messages still to go; say what was done."""
    appointment = booked_appointment(session, appointment_id)
    reason = " ".join(reason.split())[:MAX_REASON] or "cancelled by the practice"
    cancelled = cancel_appointment(session, appointment, reason)
    session.flush()
    return {
        "appointment_id": appointment.id,
        "status": appointment.status,
        "reason": reason,
        "messages_cancelled": cancelled,
    }


def move_booking(
    session: Session, appointment_id: int, at: str, zone: str, web_url: str
) -> Appointment:
    """Move an appointment to a new time; its waiting messages and its review move with it."""
    appointment = booked_appointment(session, appointment_id)
    starts_at = parse_appointment_time(at, zone)
    clash = session.execute(
        select(Appointment).where(
            Appointment.patient_id == appointment.patient_id,
            Appointment.starts_at == starts_at,
            Appointment.id != appointment.id,
        )
    ).scalar_one_or_none()
    if clash is not None:
        raise InputError(f"the patient already has appointment {clash.id} at that time")
    appointment.starts_at = starts_at
    reschedule(session, appointment, zone, web_url)
    session.flush()
    return appointment


CSV_COLUMNS = ("practice", "patient_name", "phone", "dob", "at")


@dataclass
class ImportResult:
    """The outcome of an import: what was added, and what was refused and why."""

    added: list[dict[str, Any]]
    rejected: list[tuple[int, str]]


def import_appointments(
    session: Session,
    rows: Iterable[str],
    web_url: str,
    zone: str,
    practice: str | None = None,
) -> ImportResult:
    """Add every good row of a CSV file; report each bad row with its line number.

    With ``practice`` (a portal upload), the practice column may be left out, and a row
    naming another practice is refused: a practice adds only its own appointments.
    """
    reader = csv.DictReader(rows)
    header = [column.strip().lower().replace("-", "_") for column in reader.fieldnames or []]
    needed = CSV_COLUMNS if practice is None else CSV_COLUMNS[1:]
    missing = [column for column in needed if column not in header]
    if missing:
        raise InputError(f"the CSV file has no column {', '.join(missing)}")
    reader.fieldnames = header
    result = ImportResult(added=[], rejected=[])
    for row in reader:
        line = reader.line_num
        cells = {key: (value or "").strip() for key, value in row.items() if key}
        if practice is not None:
            named = cells.get("practice") or practice
            if named.casefold() != practice.casefold():
                result.rejected.append((line, f"this row is for another practice ({named})"))
                continue
            cells["practice"] = practice
        try:
            with session.begin_nested():
                appointment, created = add_appointment(
                    session,
                    NewAppointment(
                        practice=cells["practice"],
                        patient_name=cells["patient_name"],
                        phone=cells["phone"],
                        dob=cells["dob"],
                        at=cells["at"],
                        practitioner=cells.get("practitioner") or None,
                    ),
                    zone,
                    invite_from=web_url,
                )
            result.added.append(describe_appointment(appointment, web_url, created))
        except InputError as problem:
            result.rejected.append((line, str(problem)))
        except IntegrityError:
            result.rejected.append((line, "conflicts with another row of the same file"))
    return result
