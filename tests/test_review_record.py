"""The review: its conversation rules in the core, its record and its exports.

The review is a second questionnaire value, so it has the same builder and exports as
the preparation: its record says how each goal is going, in the patient's words; its
FHIR bundle updates each Goal with its achievementStatus; the confidence is shown
across all the patient's shared records. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.messaging.reminders import plan_reviews
from careprep.preparation.conversation import Channel, Conversation, ask, reply, start
from careprep.preparation.progress import record_answer, record_complete
from careprep.preparation.questionnaire import PREPARE, REVIEW, QuestionId
from careprep.record import build_record, for_practice
from careprep.record import fhir as record_fhir
from careprep.record.exports import export
from careprep.store import session_scope
from careprep.store.models import Appointment
from tests.factories import book, prepare
from tests.test_fhir import valid

ZONE = "Europe/London"
GOALS = ["Walk to the shops without stopping", "Sleep through the night"]


def review_after(session: Session, goals: list[str] | None = GOALS, share: str = "yes") -> Any:
    """Book and complete a preparation, then book its review; return the review appointment."""
    appointment = book(session)
    prepare(session, appointment, {"goals": goals, "review_interval": "2", "consent_share": share})
    plan_reviews(session, ZONE, "http://careprep.test")
    return session.execute(
        select(Appointment).where(Appointment.follows_id == appointment.id)
    ).scalar_one()


def next_question(conversation: Conversation) -> str | None:
    flow = conversation.questionnaire.flow_ids
    return next((qid for qid in flow if conversation.answer(qid) is None), None)


def resume(session: Session, review: Appointment) -> Any:
    """Start (or resume) the review as a new turn does: reading the store afresh."""
    session.flush()
    session.expire_all()
    return start(session, review.preparation, Conversation(channel=Channel.LINK), ZONE)


def converse(session: Session, review: Appointment, *texts: str) -> list[str]:
    """Run a review conversation through the core, as a web chat would; return all it said."""
    preparation = review.preparation
    turn = resume(session, review)
    said = [message.text for message in turn.said]
    conversation = turn.conversation
    for text in texts:
        asking = next_question(conversation)
        assert asking is not None, f"nothing left to ask for {text!r}"
        conversation = Conversation(**{**conversation.__dict__, "asking": asking})
        said.append(ask(conversation, asking).text)
        turn = reply(session, preparation, conversation, text, ZONE)
        said += [message.text for message in turn.said]
        conversation = turn.conversation
    return said


def test_a_review_asks_its_own_questions_about_the_patients_own_goals(database_url: str) -> None:
    with session_scope(database_url) as session:
        review = review_after(session)
        said = converse(session, review, "yes", "2 the physio helped", "3")

    assert "review the care plan you made on" in said[0]
    assert said[1].startswith("Question 1 of 9: Are you happy to go ahead?")
    assert said[2].startswith(
        'Question 2 of 9: Goal 1 of 2. Your goal: "Walk to the shops without stopping".'
    )
    assert said[3].startswith('Question 2 of 9: Goal 2 of 2. Your goal: "Sleep through the night"')
    assert "1 Done\n2 Getting there\n3 Not started\n4 No longer matters" in said[3]


def test_each_goal_is_stored_as_it_is_answered_and_the_review_resumes_there(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        review = review_after(session)
        converse(session, review, "yes", "1 did it in May")
        turn = resume(session, review)
        assert turn.conversation.goals == (
            {"goal": GOALS[0], "status": "Done", "note": "did it in May"},
        )
        assert turn.conversation.answer(QuestionId.GOAL_PROGRESS) is None
        question = ask(
            Conversation(**{**turn.conversation.__dict__, "asking": QuestionId.GOAL_PROGRESS}),
            QuestionId.GOAL_PROGRESS,
        )
        assert 'Goal 2 of 2. Your goal: "Sleep through the night"' in question.text


def test_a_review_with_no_goals_goes_straight_to_what_has_changed(database_url: str) -> None:
    with session_scope(database_url) as session:
        review = review_after(session, goals=None)
        converse(session, review, "yes")
        turn = resume(session, review)
    assert turn.conversation.questionnaire == REVIEW
    assert turn.conversation.answer(QuestionId.GOAL_PROGRESS) == []
    assert next_question(turn.conversation) == QuestionId.CHANGES


def test_the_next_review_asks_about_the_goals_still_being_worked_on_and_the_new_ones(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        review = review_after(session)
        record_answer(session, review.preparation, QuestionId.CONSENT_START, True, "yes", "web")
        progress = [
            {"goal": GOALS[0], "status": "Done", "note": ""},
            {"goal": GOALS[1], "status": "Getting there", "note": ""},
        ]
        record_answer(session, review.preparation, QuestionId.GOAL_PROGRESS, progress, "2", "web")
        record_answer(session, review.preparation, QuestionId.GOALS, ["Swim again"], "x", "web")
        record_answer(session, review.preparation, QuestionId.REVIEW_INTERVAL, None, "skip", "web")
        record_complete(review.preparation)
        assert plan_reviews(session, ZONE, "http://careprep.test") == 1
        following = session.execute(
            select(Appointment).where(Appointment.follows_id == review.id)
        ).scalar_one()
        assert following.review_months == 6, "the same interval unless the patient changed it"
        turn = resume(session, following)
    assert turn.conversation.goals_to_review == (GOALS[1], "Swim again")


def completed_review(session: Session, share: str = "yes") -> Appointment:
    review = review_after(session)
    converse(
        session,
        review,
        "yes",
        "2 the physio helped",
        "4 I have given up driving",
        "Moved in with my daughter",
        "8",
        "a phone call",
        "Swim again",
        "no",
        "1",
        "yes",
        share,
    )
    session.flush()
    session.expire_all()
    return review


def test_the_review_record_says_how_each_goal_is_going_and_what_the_patient_asks(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        review = completed_review(session)
        assert record_complete(review.preparation)
        record = build_record(session, review.id, ZONE)
    assert record is not None and record.is_review
    assert record.summary[:2] == [
        "Goals: 1 getting there, 1 no longer matters",
        "Would like a phone call",
    ]
    assert [(goal.text, goal.status, goal.note) for goal in record.reviewed_goals] == [
        (GOALS[0], "Getting there", "the physio helped"),
        (GOALS[1], "No longer matters", "I have given up driving"),
    ]
    assert all(goal.goal_id is not None for goal in record.reviewed_goals)
    assert [point.confidence for point in record.confidence_trend] == [4, 8]
    text = export(record, "text")
    assert text.startswith("Review of the care plan - Ann Example")
    assert "How my goals are going: Walk to the shops without stopping: Getting there" in text
    assert "CONFIDENCE OVER TIME\n4 (" in text


def test_the_review_bundle_updates_each_goal_with_its_achievement(database_url: str) -> None:
    with session_scope(database_url) as session:
        review = completed_review(session)
        record_complete(review.preparation)
        record = build_record(session, review.id, ZONE)
        original = build_record(session, review.follows_id, ZONE)
    assert record is not None and original is not None
    bundle = json.loads(export(record, "fhir-bundle"))
    valid(bundle)
    resources = [entry["resource"] for entry in bundle["entry"]]
    for resource in resources:
        valid(resource)
    goals = {
        goal["description"]["text"]: goal for goal in resources if goal["resourceType"] == "Goal"
    }
    first_ids = {goal.text: f"careprep-goal-{goal.id}" for goal in original.goals}
    walk = goals[GOALS[0]]
    assert walk["id"] == first_ids[GOALS[0]], "the Goal set at the appointment, updated"
    assert walk["achievementStatus"]["coding"][0]["code"] == "improving"
    assert walk["note"] == [{"text": "the physio helped"}]
    assert goals[GOALS[1]]["lifecycleStatus"] == "cancelled"
    assert goals["Swim again"]["lifecycleStatus"] == "proposed"
    response = next(r for r in resources if r["resourceType"] == "QuestionnaireResponse")
    assert response["questionnaire"].endswith("/Questionnaire/review|1")
    answers = {item["linkId"]: item["answer"] for item in response["item"]}
    assert answers["goal_progress"][0] == {
        "valueString": "Walk to the shops without stopping: Getting there (the physio helped)"
    }


def test_a_review_not_shared_shows_the_practice_no_goals_and_no_trend(database_url: str) -> None:
    with session_scope(database_url) as session:
        review = completed_review(session, share="no")
        record_complete(review.preparation)
        record = build_record(session, review.id, ZONE)
    assert record is not None
    shown = for_practice(record)
    assert shown.reviewed_goals == [] and shown.confidence_trend == []
    assert "physio" not in export(shown, "text")
    bundle = json.loads(export(shown, "fhir-bundle"))
    assert not [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Goal"]


def test_the_questionnaires_are_rendered_and_valid() -> None:
    for asked in (PREPARE, REVIEW):
        valid(record_fhir.questionnaire_resource(asked))


@pytest.mark.parametrize("text", ["hmm", "12 weeks of walking"])
def test_a_reply_that_does_not_say_how_a_goal_is_going_is_asked_again(
    database_url: str, text: str
) -> None:
    with session_scope(database_url) as session:
        review = review_after(session)
        said = converse(session, review, "yes", text)
        turn = resume(session, review)
    assert said[-1] == "Please reply 1, 2, 3 or 4, and tell me what helped or got in the way."
    assert turn.conversation.goals == ()
