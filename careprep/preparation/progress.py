"""The preparation: finding a patient's preparation and writing each answer as it is given.

Nothing here knows about Rasa; the actions call these functions once per turn.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.preparation import messages
from careprep.preparation.questionnaire import FLOW_IDS, Kind, question
from careprep.settings import get_settings
from careprep.store.models import Answer, Goal, Preparation, PreparationStatus, utcnow

SKIPPED = "__skipped__"
"""The slot value of a skipped question (the store keeps ``skipped=True``)."""


def find_by_sender(session: Session, sender_id: str) -> Preparation | None:
    """Return the preparation a conversation belongs to (the sender is the invite token)."""
    return session.execute(
        select(Preparation).where(Preparation.invite_token == sender_id)
    ).scalar_one_or_none()


def _answer_row(session: Session, preparation: Preparation, question_id: str) -> Answer:
    row = session.execute(
        select(Answer).where(
            Answer.preparation_id == preparation.id, Answer.question_id == question_id
        )
    ).scalar_one_or_none()
    if row is None:
        row = Answer(preparation_id=preparation.id, question_id=question_id)
        session.add(row)
    return row


def _started(preparation: Preparation) -> None:
    now = utcnow()
    preparation.started_at = preparation.started_at or now
    preparation.paused_at = None
    if preparation.status == PreparationStatus.NOT_STARTED:
        preparation.status = PreparationStatus.IN_PROGRESS


def record_answer(
    session: Session, preparation: Preparation, question_id: str, value: Any, raw_text: str
) -> None:
    """Write (or overwrite) the answer to one question, as the patient gave it."""
    row = _answer_row(session, preparation, question_id)
    row.value = value
    row.raw_text = raw_text
    row.skipped = False
    row.answered_at = utcnow()
    _started(preparation)
    if question_id == "consent_start":
        preparation.status = PreparationStatus.IN_PROGRESS if value else PreparationStatus.DECLINED
    if question_id == "consent_share":
        preparation.consent_to_share = bool(value)
        preparation.consent_to_share_at = row.answered_at
    if question(question_id).kind is Kind.GOALS:
        _replace_goals(session, preparation, list(value))
    session.flush()


def record_skip(session: Session, preparation: Preparation, question_id: str) -> None:
    """Record that the patient chose to skip a question."""
    row = _answer_row(session, preparation, question_id)
    row.value = None
    row.raw_text = None
    row.skipped = True
    row.answered_at = utcnow()
    _started(preparation)
    if question_id == "consent_share":
        preparation.consent_to_share = False
        preparation.consent_to_share_at = row.answered_at
    if question(question_id).kind is Kind.GOALS:
        _replace_goals(session, preparation, [])
    session.flush()


def _replace_goals(session: Session, preparation: Preparation, goals: list[str]) -> None:
    for old in session.execute(select(Goal).where(Goal.preparation_id == preparation.id)).scalars():
        session.delete(old)
    session.flush()
    for position, text in enumerate(goals, start=1):
        session.add(Goal(preparation_id=preparation.id, position=position, text=text))


def record_pause(preparation: Preparation) -> None:
    """Note that the patient paused; their progress is kept as it is."""
    preparation.paused_at = utcnow()


def record_complete(preparation: Preparation) -> bool:
    """Mark the preparation complete; return False if it already was."""
    if preparation.status == PreparationStatus.COMPLETE:
        return False
    preparation.status = PreparationStatus.COMPLETE
    preparation.completed_at = utcnow()
    preparation.paused_at = None
    return True


def restart_after_decline(session: Session, preparation: Preparation) -> None:
    """Let a patient who said no at the start change their mind."""
    if preparation.status == PreparationStatus.DECLINED:
        preparation.status = PreparationStatus.NOT_STARTED
        row = _answer_row(session, preparation, "consent_start")
        session.delete(row)
        session.flush()


def answers_by_question(preparation: Preparation) -> dict[str, Answer]:
    """Return the stored answers of a preparation keyed by question id."""
    return {answer.question_id: answer for answer in preparation.answers}


def slot_values(preparation: Preparation) -> dict[str, Any]:
    """Return every question's slot value from the store (None where not reached)."""
    stored = answers_by_question(preparation)
    values: dict[str, Any] = {}
    for question_id in FLOW_IDS:
        answer = stored.get(question_id)
        if answer is None:
            values[question_id] = None
        elif answer.skipped:
            values[question_id] = SKIPPED
        else:
            values[question_id] = answer.value
    return values


def appointment_words(preparation: Preparation) -> str:
    """Return the appointment time as a patient reads it ("Tuesday 1 December at 10:30")."""
    local = preparation.appointment.starts_at.astimezone(ZoneInfo(get_settings().timezone))
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"


def introduction(preparation: Preparation) -> str:
    """Return the first message: who it is from, when the appointment is, what this is for."""
    return messages.INTRODUCTION.format(
        practice=preparation.appointment.practice.name,
        appointment=appointment_words(preparation),
    )
