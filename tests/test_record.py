"""The record: the patient's words exactly as sent, goals from their rows, its questionnaire."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.preparation.answers import read_answer
from careprep.preparation.progress import record_answer
from careprep.preparation.questionnaire import PREPARE, QUESTIONNAIRES, QuestionId
from careprep.record import (
    Record,
    RecordGoal,
    Section,
    build_record,
    for_practice,
    shorten,
    to_json,
    to_text,
)
from careprep.safety.flags import handle_flag, raise_flag
from careprep.store import session_scope
from careprep.store.models import Appointment, Goal
from tests.factories import book, prepare

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
    assert "My goals:\n  1. Walk\n  2. Swim again\n" in to_text(record)


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


def test_the_summary_quotes_the_patient_and_says_confidence_and_flags(database_url: str) -> None:
    worry = (
        "My knees hurt on the stairs every single morning and I have stopped going to the "
        "lunch club because of it, which I miss a great deal"
    )
    with session_scope(database_url) as session:
        appointment = book(session)
        prepare(session, appointment, {"not_going_well": worry, "confidence": "3"})
        raise_flag(session, appointment.preparation, "urgent", "my leg is hot and swollen", None)
        appointment_id = appointment.id
    record = record_of(database_url, appointment_id)
    assert len(record.summary) == 3
    matters, main_worry, last = record.summary
    assert matters == "Matters most: \u201cMy grandchildren and my garden\u201d"
    quoted = main_worry.removeprefix("Main worry: \u201c").removesuffix("\u2026\u201d")
    assert worry.startswith(quoted + " ") and len(quoted) <= 90
    assert last == "Confidence 3/10 (may need more support). 1 open safety flag: urgent"
    text = to_text(record)
    assert text.index("SAFETY FLAGS") < text.index("SUMMARY") < text.index("What matters to me")


@pytest.mark.parametrize(
    ("words", "limit", "cut"),
    [
        ("short enough", 20, "short enough"),
        ("  spaced   out\nwords  ", 20, "spaced out words"),
        ("one two three four five", 12, "one two\u2026"),
        ("unbreakablewordthatgoesonandon", 10, "unbreakab\u2026"),
    ],
)
def test_shortening_only_ever_cuts_at_word_boundaries(words: str, limit: int, cut: str) -> None:
    assert shorten(words, limit) == cut
    assert len(shorten(words, limit)) <= limit


def test_a_record_with_nothing_answered_says_so_in_its_summary(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment_id = book(session).id
    assert record_of(database_url, appointment_id).summary == ["Not started yet"]


def test_completeness_counts_answered_skipped_and_not_reached(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        prepare(session, appointment, {"good_day": None, "needs": None}, complete=False)
        from careprep.preparation.progress import record_skip

        record_skip(session, appointment.preparation, QuestionId.GOOD_DAY, "web")
        appointment_id = appointment.id
    record = record_of(database_url, appointment_id)
    assert record.completeness == {"answered": 12, "skipped": 1, "not_reached": 1}
    assert record.section(QuestionId.GOOD_DAY).state == "skipped"
    assert record.section(QuestionId.NEEDS).state == "not_reached"
    assert record.channels == ["sms", "web"]
    assert "Preparation: in progress (answered by SMS and web chat)" in to_text(record)


@pytest.mark.parametrize(
    ("score", "reading"), [(6, "may need more support"), (7, "feels confident")]
)
def test_confidence_has_a_plain_reading(database_url: str, score: int, reading: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        prepare(session, appointment, {"confidence": str(score)})
        appointment_id = appointment.id
    record = record_of(database_url, appointment_id)
    assert (record.confidence, record.confidence_reading) == (score, reading)
    assert f"My confidence: {score} out of 10 ({reading})" in to_text(record)


def test_topics_keep_the_patients_order_of_priority(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        prepare(session, appointment, {"topics": "9 1 4"})
        appointment_id = appointment.id
    record = record_of(database_url, appointment_id)
    assert record.section(QuestionId.TOPICS).value == ["Loneliness", "Medicines", "Sleep"]


def test_themes_show_the_words_that_raised_them_and_the_offers_they_suggest(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        prepare(session, appointment)
        appointment_id = appointment.id
    record = record_of(database_url, appointment_id)
    not_going_well = {t["theme"]: t["words"] for t in record.section("not_going_well").themes}
    assert not_going_well == {
        "mobility": ["stairs"],
        "pain": ["hurt"],
        "loneliness": ["lonely"],
    }
    assert {t["theme"] for t in record.section("good_day").themes} == set()
    goals = {t["theme"] for t in record.section("goals").themes}
    assert goals == {"mobility", "sleep"}
    whole = {theme["theme"]: theme for theme in record.themes}
    assert whole["mobility"]["words"] == ["walk", "stairs"]
    assert whole["mobility"]["question_ids"] == ["going_well", "not_going_well", "goals"]
    assert record.offers[0].startswith("Supported self-management: health coaching")
    assert any(offer.startswith("Social prescribing link worker") for offer in record.offers)
    assert record.themes_version
    text = to_text(record)
    assert '- Loneliness and isolation: "lonely"' in text
    assert "OFFERS TO CONSIDER" in text


def test_what_changed_since_the_previous_record(database_url: str) -> None:
    with session_scope(database_url) as session:
        earlier = book(session, phone="07700 900555", days_ahead=1)
        earlier.starts_at -= timedelta(days=180)
        prepare(session, earlier, {"confidence": "3", "good_day": None})
        later = book(session, phone="07700 900555", days_ahead=10)
        prepare(
            session,
            later,
            {"confidence": "7", "what_matters": "Getting back to my allotment", "needs": None},
        )
        earlier_id, later_id = earlier.id, later.id
    changes = record_of(database_url, later_id).changes
    assert changes is not None
    assert changes.previous_appointment_id == earlier_id
    states = {change.question_id: change.state for change in changes.sections}
    assert states[QuestionId.WHAT_MATTERS] == "changed"
    assert states[QuestionId.GOING_WELL] == "same"
    assert states[QuestionId.GOOD_DAY] == "new"
    assert states[QuestionId.NEEDS] == "not_answered"
    assert (changes.confidence_then, changes.confidence_now) == (3, 7)
    assert record_of(database_url, earlier_id).changes is None
    assert "Confidence: 3 then, 7 now (out of 10)" in to_text(record_of(database_url, later_id))


def test_answers_are_withheld_from_the_practice_until_the_patient_agrees(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        refused = book(session)
        prepare(session, refused, {"consent_share": "no"})
        raise_flag(session, refused.preparation, "mental_health", "no way out of this", None)
        unasked = book(session)
        prepare(session, unasked, {"consent_share": None, "readback": None}, complete=False)
        agreed = book(session)
        prepare(session, agreed)
        ids = refused.id, unasked.id, agreed.id
    for appointment_id in ids[:2]:
        record = record_of(database_url, appointment_id)
        shown = for_practice(record)
        assert shown.withheld and not record.withheld
        assert all(s.value is None and s.patient_words is None for s in shown.sections)
        assert record.themes and record.offers
        assert shown.goals == [] and shown.themes == [] and shown.offers == []
        assert shown.changes is None
        assert [s.state for s in shown.sections] == [s.state for s in record.sections]
        text = to_text(shown)
        assert "grandchildren" not in text and "Walk to the shops" not in text
        assert "has not agreed to share" in text
        assert shown.safety_flags == record.safety_flags
    refused_text = to_text(for_practice(record_of(database_url, ids[0])))
    assert "no way out of this" in refused_text
    assert "1 open safety flag: mental health" in refused_text
    agreed_record = record_of(database_url, ids[2])
    assert for_practice(agreed_record) is agreed_record


def test_a_handled_flag_says_who_and_when(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        flag = raise_flag(session, appointment.preparation, "urgent", "fever and shivers", None)
        session.flush()
        handle_flag(session, flag.id, "gp@hill.example")
        appointment_id = appointment.id
    record = record_of(database_url, appointment_id)
    assert record.open_flags == []
    assert "(handled by gp@hill.example, " in to_text(record)
    assert not any("open safety flag" in line for line in record.summary)
