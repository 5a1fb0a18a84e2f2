"""The careprep store: SQLAlchemy models. Alembic migrations in ``migrations/`` create them."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.sql.expression import true
from sqlalchemy.types import DateTime, TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Base: Any = declarative_base(metadata=metadata)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store aware datetimes as naive UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read naive UTC back as aware UTC."""
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class PreparationStatus:
    """The states of a preparation."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    DECLINED = "declined"


def new_invite_token() -> str:
    """Return an unguessable token for an invitation link (128 bits)."""
    return secrets.token_urlsafe(16)


class Practice(Base):
    """A GP practice or clinic."""

    __tablename__ = "practice"
    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False, unique=True)
    quiet_hours = Column(
        String(11), nullable=False, default="20:00-09:00", server_default="20:00-09:00"
    )
    """No messages between these local times ("HH:MM-HH:MM"), or "none"; never on Sundays."""
    invite_days = Column(Integer, nullable=False, default=7, server_default="7")
    """Days before the appointment that the invitation is sent."""
    nudge_days = Column(Integer, nullable=False, default=2, server_default="2")
    """Days before the appointment that an unfinished preparation is nudged."""
    send_rate = Column(Integer, nullable=False, default=10, server_default="10")
    """Messages a second at most (one UK long code takes 10)."""
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class Practitioner(Base):
    """A person at a practice who reads records."""

    __tablename__ = "practitioner"
    id = Column(Integer, primary_key=True)
    practice_id = Column(ForeignKey("practice.id"), nullable=False, index=True)
    email = Column(String(320), nullable=False, unique=True)
    password_hash = Column(String(200), nullable=False)
    role = Column(String(30), nullable=False, default="clinician")
    failed_logins = Column(Integer, nullable=False, default=0, server_default="0")
    """Failed log-ins in a row; the fifth locks the account until ``locked_until``."""
    locked_until = Column(UTCDateTime)
    signed_out_at = Column(UTCDateTime)
    last_login_at = Column(UTCDateTime)
    active = Column(Boolean, nullable=False, default=True, server_default=true())
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    practice = relationship(Practice)


class Patient(Base):
    """A person invited to prepare for an appointment."""

    __tablename__ = "patient"
    id = Column(Integer, primary_key=True)
    practice_id = Column(ForeignKey("practice.id"), nullable=False, index=True)
    name = Column(String(200), nullable=False)
    phone = Column(String(20), nullable=False, index=True)
    date_of_birth = Column(Date, nullable=False)
    sms_opted_out_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    practice = relationship(Practice)


class Appointment(Base):
    """A care and support planning appointment."""

    __tablename__ = "appointment"
    __table_args__ = (UniqueConstraint("patient_id", "starts_at"),)
    id = Column(Integer, primary_key=True)
    practice_id = Column(ForeignKey("practice.id"), nullable=False, index=True)
    patient_id = Column(ForeignKey("patient.id"), nullable=False, index=True)
    practitioner_id = Column(ForeignKey("practitioner.id"))
    starts_at = Column(UTCDateTime, nullable=False, index=True)
    status = Column(String(20), nullable=False, default="booked")
    kind = Column(
        String(20), nullable=False, default="care_planning", server_default="care_planning"
    )
    """``care_planning``, or ``review``: a review of the plan made at the appointment it follows."""
    follows_id = Column(ForeignKey("appointment.id"), unique=True)
    """For a review: the appointment (or the earlier review) it follows; one review each."""
    review_months = Column(Integer)
    """For a review: the interval the patient chose; the next review follows at the same one."""
    cancelled_reason = Column(Text)
    record_read_at = Column(UTCDateTime)
    record_read_by = Column(String(320))
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    practice = relationship(Practice)
    patient = relationship(Patient)
    practitioner = relationship(Practitioner)
    preparation = relationship("Preparation", uselist=False, back_populates="appointment")
    follows = relationship("Appointment", remote_side=[id])


class Preparation(Base):
    """The patient's preparation for one appointment."""

    __tablename__ = "preparation"
    id = Column(Integer, primary_key=True)
    appointment_id = Column(ForeignKey("appointment.id"), nullable=False, unique=True)
    invite_token = Column(String(64), nullable=False, unique=True, default=new_invite_token)
    """The conversation's sender id in Rasa (SMS and web chat alike); never shown to anyone."""
    link_token = Column(String(64), nullable=False, unique=True, default=new_invite_token)
    """The token in the invitation link (/chat/<link_token>): opens the web chat, nothing else."""
    status = Column(String(20), nullable=False, default=PreparationStatus.NOT_STARTED)
    questionnaire_id = Column(String(80), nullable=False, server_default="prepare")
    questionnaire_version = Column(String(20), nullable=False, server_default="1")
    consent_to_share = Column(Boolean)
    consent_to_share_at = Column(UTCDateTime)
    started_at = Column(UTCDateTime)
    paused_at = Column(UTCDateTime)
    completed_at = Column(UTCDateTime)
    identity_verified_at = Column(UTCDateTime)
    identity_failures = Column(Integer, nullable=False, default=0, server_default="0")
    identity_locked_at = Column(UTCDateTime)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    appointment = relationship(Appointment, back_populates="preparation")
    answers = relationship("Answer", back_populates="preparation", order_by="Answer.id")
    goals = relationship("Goal", order_by="Goal.position")


class Answer(Base):
    """The latest answer to one question; re-answering updates the row."""

    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("preparation_id", "question_id"),)
    id = Column(Integer, primary_key=True)
    preparation_id = Column(ForeignKey("preparation.id"), nullable=False, index=True)
    question_id = Column(String(40), nullable=False)
    value = Column(JSON)
    raw_text = Column(Text)
    skipped = Column(Boolean, nullable=False, default=False)
    channel = Column(String(10))
    """Where the answer was given: "sms" or "web" (None before the portal's migration)."""
    answered_at = Column(UTCDateTime, nullable=False, default=utcnow)

    preparation = relationship(Preparation, back_populates="answers")


class Goal(Base):
    """One goal in the patient's words."""

    __tablename__ = "goal"
    __table_args__ = (UniqueConstraint("preparation_id", "position"),)
    id = Column(Integer, primary_key=True)
    preparation_id = Column(ForeignKey("preparation.id"), nullable=False, index=True)
    position = Column(Integer, nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class SafetyFlag(Base):
    """Something the practice must see: a safety concern or a failed identity check."""

    __tablename__ = "safety_flag"
    id = Column(Integer, primary_key=True)
    practice_id = Column(ForeignKey("practice.id"), nullable=False, index=True)
    patient_id = Column(ForeignKey("patient.id"))
    preparation_id = Column(ForeignKey("preparation.id"), index=True)
    preparation = relationship(Preparation)
    level = Column(String(20), nullable=False)
    message = Column(Text)
    question_id = Column(String(40))
    pattern_version = Column(String(40))
    classifier_version = Column(String(40))
    detected_by = Column(String(20))
    raised_at = Column(UTCDateTime, nullable=False, default=utcnow)
    handled_at = Column(UTCDateTime)
    handled_by = Column(String(320))


class OutboxMessage(Base):
    """A message to send to a patient, due at a time, moving through a state machine."""

    __tablename__ = "message_outbox"
    __table_args__ = (UniqueConstraint("appointment_id", "kind"),)
    """The same kind of message is never scheduled twice for one appointment."""
    id = Column(Integer, primary_key=True)
    patient_id = Column(ForeignKey("patient.id"), nullable=False, index=True)
    preparation_id = Column(ForeignKey("preparation.id"))
    appointment_id = Column(ForeignKey("appointment.id"), index=True)
    kind = Column(String(30), nullable=False)
    body = Column(Text, nullable=False)
    due_at = Column(UTCDateTime, nullable=False, index=True)
    state = Column(String(20), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(Text)
    provider_sid = Column(String(64), index=True)
    cancelled_reason = Column(Text)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    sent_at = Column(UTCDateTime)


class InboundSms(Base):
    """An SMS Twilio delivered to us, kept so that a retried webhook is processed once."""

    __tablename__ = "inbound_sms"
    id = Column(Integer, primary_key=True)
    message_sid = Column(String(64), nullable=False, unique=True)
    received_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    reply = Column(Text)
    lease_until = Column(UTCDateTime)
    """Until when the turn that claimed this message may still be running; then it is retaken."""
    attempts = Column(Integer, nullable=False, default=1, server_default="1")


class AuditEvent(Base):
    """Who read or exported which record, and when."""

    __tablename__ = "audit_event"
    id = Column(Integer, primary_key=True)
    practice_id = Column(ForeignKey("practice.id"), index=True)
    actor = Column(String(320), nullable=False)
    action = Column(String(40), nullable=False)
    appointment_id = Column(ForeignKey("appointment.id"), index=True)
    at = Column(UTCDateTime, nullable=False, default=utcnow)
    detail = Column(Text)
