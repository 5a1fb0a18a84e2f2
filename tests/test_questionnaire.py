"""The questionnaire as a value: ids as constants, versions in a registry, the order asked."""

from __future__ import annotations

import dataclasses

import pytest

from careprep.preparation.progress import questionnaire_of
from careprep.preparation.questionnaire import PREPARE, REVIEW, QuestionId, latest, questionnaire
from careprep.store import session_scope
from tests.factories import book


def test_every_question_id_is_a_named_constant_and_used_once() -> None:
    constants = {value for name, value in vars(QuestionId).items() if name.isupper()}
    assert set(PREPARE.ids) | set(REVIEW.ids) == constants
    for asked in (PREPARE, REVIEW):
        assert len(set(asked.ids)) == len(asked.ids)


def test_the_review_shares_the_ids_a_trend_or_a_record_compares() -> None:
    shared = {QuestionId.IDENTITY, QuestionId.CONFIDENCE, QuestionId.GOALS}
    assert shared <= set(REVIEW.ids) & set(PREPARE.ids)
    assert REVIEW.question(QuestionId.CONFIDENCE) is PREPARE.question(QuestionId.CONFIDENCE)
    assert latest("review") is REVIEW and latest("prepare") is PREPARE
    with pytest.raises(KeyError):
        latest("nothing")


def test_questionnaires_are_found_by_id_and_version() -> None:
    assert questionnaire("prepare", "1") is PREPARE
    with pytest.raises(KeyError):
        questionnaire("prepare", "99")


def test_a_new_preparation_names_todays_preparation_questionnaire(database_url: str) -> None:
    with session_scope(database_url) as session:
        preparation = book(session).preparation
        session.flush()
        session.expire(preparation)
        assert questionnaire_of(preparation) is PREPARE


def test_the_conversation_asks_fourteen_questions_after_the_identity_check() -> None:
    assert len(PREPARE.flow) == 14
    assert QuestionId.IDENTITY not in PREPARE.flow_ids
    assert PREPARE.position(QuestionId.CONSENT_START) == 1
    assert PREPARE.position(QuestionId.GOALS) == 6
    assert PREPARE.flow_ids[-2:] == (QuestionId.READBACK, QuestionId.CONSENT_SHARE)


def test_the_readback_offers_every_answer_but_yes_no_questions_and_itself() -> None:
    editable = [question.id for question in PREPARE.editable]
    assert len(editable) == 11 and editable[4] == QuestionId.GOALS
    assert QuestionId.CONSENT_START not in editable and QuestionId.READBACK not in editable


@pytest.mark.parametrize(
    ("words", "question_id"),
    [
        ("goals", QuestionId.GOALS),
        ("My worries", QuestionId.NOT_GOING_WELL),
        ("what is going well", QuestionId.GOING_WELL),
    ],
)
def test_a_question_is_found_by_the_words_a_patient_uses(words: str, question_id: str) -> None:
    found = PREPARE.find_by_alias(words)
    assert found is not None and found.id == question_id


def test_only_the_identity_check_and_consent_to_start_cannot_be_skipped() -> None:
    unskippable = [question.id for question in PREPARE.questions if not question.skippable]
    assert unskippable == [QuestionId.IDENTITY, QuestionId.CONSENT_START]


def test_a_questionnaire_cannot_be_changed_in_place() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PREPARE.version = "2"  # type: ignore[misc]
