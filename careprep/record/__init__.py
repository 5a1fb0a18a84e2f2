"""The pre-consultation record: built from the store, rendered as plain text or JSON.

A record is read against the questionnaire its preparation names (id and version),
so it always shows the questions that were actually asked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.preparation.progress import (
    SKIPPED,
    answers_by_question,
    goal_rows,
    questionnaire_of,
)
from careprep.preparation.questionnaire import (
    PREPARE,
    Kind,
    Question,
    QuestionId,
    questionnaire,
)
from careprep.store.models import Answer, Appointment, Goal, SafetyFlag

CONFIDENCE_SUPPORT_BELOW = 7


@dataclass
class Section:
    """One question's part of the record.

    ``value`` is what was read from the reply (for choices: the options picked, then
    any words of the patient's own, unchanged); ``patient_words`` is the reply exactly
    as it was sent. The goals' value is read from the goal rows, each goal as given.
    """

    question_id: str
    heading: str
    state: str  # answered / skipped / not_reached
    value: Any = None
    patient_words: str | None = None
    answered_at: str | None = None


@dataclass
class RecordGoal:
    """One goal in the patient's words, as its row in the goal table."""

    id: int
    position: int
    text: str


@dataclass
class Record:
    """The whole pre-consultation record of one appointment."""

    appointment_id: int
    practice: str
    patient_name: str
    date_of_birth: str
    appointment_at: str
    practitioner: str | None
    preparation_status: str
    consent_to_share: bool | None
    consent_to_share_at: str | None
    sms_opted_out: bool
    questionnaire_id: str
    questionnaire_version: str
    goals: list[RecordGoal] = field(default_factory=list)
    safety_flags: list[dict[str, Any]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    @property
    def completeness(self) -> dict[str, int]:
        """Count the questions answered, skipped and not reached."""
        counts = {"answered": 0, "skipped": 0, "not_reached": 0}
        for section in self.sections:
            counts[section.state] += 1
        return counts


def _readable(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{moment:%A} {moment.day} {moment:%B %Y at %H:%M}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def build_record(session: Session, appointment_id: int, zone: str) -> Record | None:
    """Return the record of an appointment, its times in ``zone``; None if there is none."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        return None
    preparation = appointment.preparation
    asked = questionnaire_of(preparation) if preparation else PREPARE
    stored: dict[str, Answer] = answers_by_question(preparation) if preparation else {}
    goals: list[Goal] = goal_rows(session, preparation) if preparation else []
    flags = (
        session.execute(
            select(SafetyFlag)
            .where(SafetyFlag.preparation_id == preparation.id)
            .order_by(SafetyFlag.raised_at.desc())
        ).scalars()
        if preparation
        else []
    )
    local = ZoneInfo(zone)
    record = Record(
        appointment_id=appointment.id,
        practice=appointment.practice.name,
        patient_name=appointment.patient.name,
        date_of_birth=appointment.patient.date_of_birth.isoformat(),
        appointment_at=appointment.starts_at.astimezone(local).isoformat(),
        practitioner=appointment.practitioner.email if appointment.practitioner else None,
        preparation_status=preparation.status if preparation else "not_started",
        consent_to_share=preparation.consent_to_share if preparation else None,
        consent_to_share_at=_iso(preparation.consent_to_share_at) if preparation else None,
        sms_opted_out=appointment.patient.sms_opted_out_at is not None,
        questionnaire_id=asked.id,
        questionnaire_version=asked.version,
        goals=[RecordGoal(goal.id, goal.position, goal.text) for goal in goals],
        safety_flags=[
            {
                "id": flag.id,
                "level": flag.level,
                "message": flag.message,
                "raised_at": _iso(flag.raised_at),
                "handled_at": _iso(flag.handled_at),
                "handled_by": flag.handled_by,
                "detected_by": flag.detected_by,
                "pattern_version": flag.pattern_version,
                "classifier_version": flag.classifier_version,
            }
            for flag in flags
        ],
    )
    for question in asked.flow:
        answer = stored.get(question.id)
        if answer is None:
            record.sections.append(Section(question.id, question.section, "not_reached"))
        elif answer.skipped:
            record.sections.append(
                Section(
                    question.id, question.section, "skipped", answered_at=_iso(answer.answered_at)
                )
            )
        elif question.kind is Kind.GOALS:
            record.sections.append(
                Section(
                    question.id,
                    question.section,
                    "answered",
                    value=[goal.text for goal in record.goals],
                    answered_at=_iso(answer.answered_at),
                )
            )
        else:
            record.sections.append(
                Section(
                    question.id,
                    question.section,
                    "answered",
                    value=answer.value,
                    patient_words=answer.raw_text,
                    answered_at=_iso(answer.answered_at),
                )
            )
    return record


def describe(question: Question, value: Any) -> str:
    """Return an answer in plain words for a reader."""
    if value is None:
        return "Not answered yet"
    if value == SKIPPED:
        return "Skipped"
    if question.kind is Kind.YES_NO or question.kind is Kind.CONFIRM:
        return "Yes" if value else "No"
    if question.kind is Kind.SCALE:
        reading = (
            "may need more support" if int(value) < CONFIDENCE_SUPPORT_BELOW else "feels confident"
        )
        return f"{value} out of 10 ({reading})"
    if isinstance(value, list):
        return "; ".join(str(item) for item in value) if value else "None"
    return str(value)


def to_json(record: Record) -> dict[str, Any]:
    """Return the record as a JSON-ready dict."""
    data = asdict(record)
    data["completeness"] = record.completeness
    return data


def to_text(record: Record) -> str:
    """Return the record as plain text for a practitioner."""
    lines = [
        f"Pre-consultation record - {record.patient_name} (born {record.date_of_birth})",
        f"Appointment: {_readable(record.appointment_at)} at {record.practice}",
    ]
    if record.practitioner:
        lines.append(f"With: {record.practitioner}")
    lines.append("")
    if record.safety_flags:
        lines.append("SAFETY FLAGS")
        for flag in record.safety_flags:
            handled = f" (handled by {flag['handled_by']})" if flag["handled_at"] else " (OPEN)"
            lines.append(f"! {flag['level']}: {flag['message']} - {flag['raised_at']}{handled}")
        lines.append("")
    consent = {True: "Yes", False: "No", None: "Not asked yet"}[record.consent_to_share]
    when = f" ({record.consent_to_share_at})" if record.consent_to_share_at else ""
    counts = record.completeness
    lines += [
        f"Preparation: {record.preparation_status.replace('_', ' ')}",
        f"Consent to share with the care team: {consent}{when}",
        f"Completeness: {counts['answered']} answered, {counts['skipped']} skipped, "
        f"{counts['not_reached']} not reached",
    ]
    if record.sms_opted_out:
        lines.append("Text messages: the patient has opted out")
    lines.append("")
    asked = questionnaire(record.questionnaire_id, record.questionnaire_version)
    for section in record.sections:
        if section.question_id == QuestionId.READBACK:
            continue
        value = {"skipped": SKIPPED, "not_reached": None}.get(section.state, section.value)
        lines.append(f"{section.heading}: {describe(asked.question(section.question_id), value)}")
    return "\n".join(lines) + "\n"
