"""The preparation in the store: finding it, writing each answer as it is given, reading it back.

Nothing here knows about Rasa; the conversation rules (``conversation.py``) call these.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from careprep.messaging.reminders import NUDGE, Reason, cancel_waiting, day_and_time, day_only
from careprep.preparation import messages
from careprep.preparation.questionnaire import (
    Kind,
    QuestionId,
    Questionnaire,
    questionnaire,
)
from careprep.store.models import Answer, Goal, Preparation, PreparationStatus, utcnow

SKIPPED = "__skipped__"
"""The value of a skipped question in the conversation (the store keeps ``skipped=True``)."""


def find_by_sender(session: Session, sender_id: str) -> Preparation | None:
    """Return the preparation a conversation belongs to (the sender is the invite token)."""
    return session.execute(
        select(Preparation).where(Preparation.invite_token == sender_id)
    ).scalar_one_or_none()


def find_by_link(session: Session, link_token: str) -> Preparation | None:
    """Return the preparation an invitation link opens (the link is not the sender id)."""
    return session.execute(
        select(Preparation).where(Preparation.link_token == link_token)
    ).scalar_one_or_none()


def questionnaire_of(preparation: Preparation) -> Questionnaire:
    """Return the questionnaire (id and version) this preparation is asked and read against."""
    return questionnaire(preparation.questionnaire_id, preparation.questionnaire_version)


def use_questionnaire(preparation: Preparation, asked: Questionnaire) -> None:
    """Name the questionnaire a preparation is asked, unless it has already started on one."""
    if preparation.started_at is None:
        preparation.questionnaire_id = asked.id
        preparation.questionnaire_version = asked.version


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
    session: Session,
    preparation: Preparation,
    question_id: str,
    value: Any,
    raw_text: str,
    channel: str | None = None,
) -> None:
    """Write (or overwrite) the answer to one question: its value and the text exactly as sent.

    ``channel`` ("sms" or "web") says where it was given. The goals are written one row
    each in the goal table, not in the answer's value.
    """
    row = _answer_row(session, preparation, question_id)
    goals = questionnaire_of(preparation).question(question_id).kind is Kind.GOALS
    row.value = None if goals else value
    row.raw_text = raw_text
    row.channel = channel
    row.skipped = False
    row.answered_at = utcnow()
    _started(preparation)
    if question_id == QuestionId.CONSENT_START:
        preparation.status = PreparationStatus.IN_PROGRESS if value else PreparationStatus.DECLINED
    if question_id == QuestionId.CONSENT_SHARE:
        preparation.consent_to_share = bool(value)
        preparation.consent_to_share_at = row.answered_at
    if goals:
        _replace_goals(session, preparation, list(value))
    session.flush()


def record_skip(
    session: Session, preparation: Preparation, question_id: str, channel: str | None = None
) -> None:
    """Record that the patient chose to skip a question (by ``channel``, "sms" or "web")."""
    row = _answer_row(session, preparation, question_id)
    row.value = None
    row.raw_text = None
    row.channel = channel
    row.skipped = True
    row.answered_at = utcnow()
    _started(preparation)
    if question_id == QuestionId.CONSENT_SHARE:
        preparation.consent_to_share = False
        preparation.consent_to_share_at = row.answered_at
    if questionnaire_of(preparation).question(question_id).kind is Kind.GOALS:
        _replace_goals(session, preparation, [])
    session.flush()


def goal_rows(session: Session, preparation: Preparation) -> list[Goal]:
    """Return the patient's goals, one row each, in the order they gave them."""
    return list(
        session.execute(
            select(Goal).where(Goal.preparation_id == preparation.id).order_by(Goal.position)
        ).scalars()
    )


def _replace_goals(session: Session, preparation: Preparation, goals: list[str]) -> None:
    """Make the goal rows say ``goals``: a goal kept in its place keeps its row."""
    old = goal_rows(session, preparation)
    changed = [
        row for row in old if row.position > len(goals) or goals[row.position - 1] != row.text
    ]
    for row in changed:
        session.delete(row)
    session.flush()
    kept = {row.position for row in old if row not in changed}
    for position, text in enumerate(goals, start=1):
        if position not in kept:
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
    session = object_session(preparation)
    if session is not None:
        cancel_waiting(session, preparation.appointment, Reason.PREPARED, kinds=(NUDGE,))
    return True


def restart_after_decline(session: Session, preparation: Preparation) -> None:
    """Let a patient who said no at the start change their mind."""
    if preparation.status == PreparationStatus.DECLINED:
        preparation.status = PreparationStatus.NOT_STARTED
        row = _answer_row(session, preparation, QuestionId.CONSENT_START)
        session.delete(row)
        session.flush()


def answers_by_question(preparation: Preparation) -> dict[str, Answer]:
    """Return the stored answers of a preparation keyed by question id."""
    return {answer.question_id: answer for answer in preparation.answers}


def answers_so_far(session: Session, preparation: Preparation) -> dict[str, Any]:
    """Return each question's value from the store: None where not reached, SKIPPED if skipped.

    The goals are read from the goal rows.
    """
    asked = questionnaire_of(preparation)
    stored = answers_by_question(preparation)
    values: dict[str, Any] = {}
    for question in asked.flow:
        answer = stored.get(question.id)
        if answer is None:
            values[question.id] = None
        elif answer.skipped:
            values[question.id] = SKIPPED
        elif question.kind is Kind.GOALS:
            values[question.id] = [row.text for row in goal_rows(session, preparation)]
        else:
            values[question.id] = answer.value
    return values


STILL_WORKING_ON = ("Getting there", "Not started")
"""How a reviewed goal stands when the next review asks about it again."""


def goals_under_review(session: Session, preparation: Preparation) -> list[str]:
    """Return the goals a review asks about: those set at the appointment it follows.

    After an earlier review: the goals it found still being worked on, then its new ones.
    """
    earlier = preparation.appointment.follows
    if earlier is None or earlier.preparation is None:
        return []
    before = earlier.preparation
    goals = [row.text for row in goal_rows(session, before)]
    progress = answers_by_question(before).get(QuestionId.GOAL_PROGRESS)
    if progress is None or not isinstance(progress.value, list):
        return goals
    kept = [entry["goal"] for entry in progress.value if entry["status"] in STILL_WORKING_ON]
    return kept + [goal for goal in goals if goal not in kept]


def appointment_words(preparation: Preparation, zone: str) -> str:
    """Return the appointment time in ``zone`` for a patient: "Tuesday 1 December at 10:30"."""
    return day_and_time(preparation.appointment.starts_at, zone)


def introduction(preparation: Preparation, zone: str) -> str:
    """Return the first message: who it is from, when the appointment is, what this is for.

    A review says which plan it reviews (the day of the appointment it follows).
    """
    appointment = preparation.appointment
    if appointment.follows is not None:
        return messages.REVIEW_INTRODUCTION.format(
            practice=appointment.practice.name,
            made_on=day_only(appointment.follows.starts_at, zone),
        )
    return messages.INTRODUCTION.format(
        practice=appointment.practice.name,
        appointment=appointment_words(preparation, zone),
    )
