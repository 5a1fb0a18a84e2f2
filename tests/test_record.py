"""The record: the patient's words exactly as sent, goals from their rows, its questionnaire."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.preparation.answers import read_answer
from careprep.preparation.progress import record_answer
from careprep.preparation.questionnaire import PREPARE, QUESTIONNAIRES, QuestionId
from careprep.record import Record, RecordGoal, Section, build_record, to_json, to_text
from careprep.store import session_scope
from careprep.store.models import Appointment, Goal
from tests.factories import book

ZONE = "Europe/London"
TOPICS = PREPARE.question(QuestionId.TOPICS)


def record_of(database_url: str, appointment_id: int, zone: str = ZONE) -> Record:
    with session_scope(database_url) as session:
        record = build_record(session, appointment_id, zone)
        assert record is not None
        return record


def record_of_session(session: Session, appointment_id: int) -> Record:
    record = build_record(session, appointment_id, ZONE)
    assert record is not None
    return record


def sections(record: Record) -> dict[str, Section]:
    return {section.question_id: section for section in record.sections}


def answer_topics(session: Session, appointment: Appointment, text: str) -> None:
    record_answer(
        session, appointment.preparation, QuestionId.TOPICS, read_answer(TOPICS, text), text
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            "Can we talk about whether my water tablets cause the night time toilet trips",
            ["Can we talk about whether my water tablets cause the night time toilet trips"],
        ),
        (
            "  1, and can we talk about whether my tablets cause sleep problems? ",
            ["Medicines", "Sleep", "can we talk about whether my tablets cause sleep problems?"],
        ),
    ],
)
def test_the_record_holds_the_patients_words_exactly_beside_the_options(
    database_url: str, text: str, value: list[str]
) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        answer_topics(session, appointment, text)
        appointment_id = appointment.id
    record = record_of(database_url, appointment_id)
    topics = sections(record)[QuestionId.TOPICS]
    assert topics.value == value
    assert topics.patient_words == text
    assert f"What I'd like to talk about: {'; '.join(value)}\n" in to_text(record)
    (exported,) = [s for s in to_json(record)["sections"] if s["question_id"] == QuestionId.TOPICS]
    assert (exported["value"], exported["patient_words"]) == (value, text)


def test_the_record_reads_each_goal_from_its_row(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        preparation = appointment.preparation
        record_answer(session, preparation, QuestionId.GOALS, ["Walk", "Swim"], "Swim")
        second = session.execute(
            select(Goal).where(Goal.preparation_id == preparation.id, Goal.position == 2)
        ).scalar_one()
        second.text = "Swim again"
        appointment_id, second_id = appointment.id, second.id
    record = record_of(database_url, appointment_id)
    assert sections(record)[QuestionId.GOALS].value == ["Walk", "Swim again"]
    assert record.goals[1] == RecordGoal(second_id, 2, "Swim again")
    assert "My goals: Walk; Swim again\n" in to_text(record)


def test_a_goal_kept_in_its_place_keeps_its_row(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        preparation = appointment.preparation
        record_answer(session, preparation, QuestionId.GOALS, ["Walk"], "Walk")
        first = record_of_session(session, appointment.id).goals[0]
        record_answer(session, preparation, QuestionId.GOALS, ["Walk", "Swim"], "Swim")
        record_answer(session, preparation, QuestionId.GOALS, ["Walk", "Cycle"], "Cycle")
        goals = record_of_session(session, appointment.id).goals
    assert goals[0] == first
    assert [goal.text for goal in goals] == ["Walk", "Cycle"]


def test_times_are_told_in_the_zone_the_caller_gives(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        appointment_id, starts_at = appointment.id, appointment.starts_at
    in_london = datetime.fromisoformat(record_of(database_url, appointment_id).appointment_at)
    in_new_york = datetime.fromisoformat(
        record_of(database_url, appointment_id, "America/New_York").appointment_at
    )
    assert in_london == in_new_york == starts_at
    assert in_london.utcoffset() != in_new_york.utcoffset()


def test_a_record_is_read_against_the_questionnaire_its_preparation_names(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shorter = replace(
        PREPARE,
        version="0",
        questions=tuple(q for q in PREPARE.questions if q.id != QuestionId.GOOD_DAY),
    )
    monkeypatch.setitem(QUESTIONNAIRES, (shorter.id, shorter.version), shorter)
    with session_scope(database_url) as session:
        appointment = book(session)
        appointment.preparation.questionnaire_version = shorter.version
        appointment_id = appointment.id
    record = record_of(database_url, appointment_id)
    assert (record.questionnaire_id, record.questionnaire_version) == ("prepare", "0")
    assert [section.question_id for section in record.sections] == list(shorter.flow_ids)
    assert "A good day for me" not in to_text(record)
