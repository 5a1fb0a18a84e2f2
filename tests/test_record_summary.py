"""The patient's own copy of their record: their words, GSM-7, at most three SMS parts."""

from __future__ import annotations

from careprep.messaging.gsm7 import GSM7_BASIC, GSM7_EXTENDED, septets
from careprep.record import build_record
from careprep.record.summary import LIMIT, patient_copy
from careprep.store import session_scope
from tests.factories import book, prepare


def copy_of(database_url: str, answers: dict[str, object] | None, complete: bool = True) -> str:
    with session_scope(database_url) as session:
        appointment = book(session)
        if answers is not None:
            prepare(session, appointment, answers, complete=complete)
        record = build_record(session, appointment.id, "Europe/London")
        assert record is not None
        return patient_copy(record)


def test_a_typical_copy_holds_every_answer_word_for_word(database_url: str) -> None:
    copy = copy_of(database_url, {})
    assert copy.startswith("Your answers for Hill Surgery, ")
    for line in (
        "What matters: My grandchildren and my garden",
        "Not going well: My knees hurt on the stairs and I feel lonely since Bill died",
        "Your questions: Can I take ibuprofen with my tablets?",
        "Goals: Walk to the shops without stopping; Sleep through the night",
        "To talk about: Pain, Sleep, my knees",
        "Confidence: 4 out of 10",
        "Review: Every 6 months",
        "Shared with your care team: yes",
    ):
        assert line in copy.splitlines()
    assert septets(copy) <= LIMIT == 459


def test_long_answers_are_cut_at_words_and_the_copy_fits_three_parts(database_url: str) -> None:
    long = "I worry about my breathing when I walk up the hill to the shops " * 20
    copy = copy_of(
        database_url,
        {"what_matters": long, "not_going_well": long, "going_well": long, "support": long},
    )
    assert septets(copy) <= LIMIT
    (matters,) = [line for line in copy.splitlines() if line.startswith("What matters: ")]
    quoted = matters.removeprefix("What matters: ").removesuffix("...")
    assert long.startswith(quoted + " ")
    assert "Goals: Walk to the shops without stopping; Sleep through the night" in copy


def test_curly_quotes_and_emoji_become_gsm7(database_url: str) -> None:
    copy = copy_of(
        database_url, {"what_matters": "My dog \u201cRex\u201d \U0001f436 and my caf\u00e9"}
    )
    assert 'What matters: My dog "Rex" and my caf\u00e9' in copy
    assert all(char in GSM7_BASIC or char in GSM7_EXTENDED for char in copy)


def test_html_in_an_answer_is_told_back_as_the_patient_typed_it(database_url: str) -> None:
    copy = copy_of(database_url, {"what_matters": "<b>my garden</b>"})
    assert "What matters: <b>my garden</b>" in copy


def test_skipped_and_unreached_answers_are_left_out(database_url: str) -> None:
    copy = copy_of(
        database_url,
        {"questions": None, "support": None, "confidence": None, "consent_share": None},
        complete=False,
    )
    assert "Your questions" not in copy and "Confidence" not in copy
    assert "Shared with your care team: not yet asked" in copy


def test_nothing_answered_yet(database_url: str) -> None:
    copy = copy_of(database_url, None)
    assert copy.startswith("You have not answered any questions yet for Hill Surgery, ")
