"""Reading replies: yes/no, the 0-10 scale, numbered and named choices."""

import pytest

from careprep.preparation.answers import (
    Unreadable,
    read_answer,
    read_choices,
    read_scale,
    read_yes_no,
)
from careprep.preparation.questionnaire import NEEDS, PREPARE, TOPICS, QuestionId

REVIEW_INTERVAL = PREPARE.question(QuestionId.REVIEW_INTERVAL)


@pytest.mark.parametrize("text", ["yes", "Y", "Yeah", "ok", "Yes please", "1"])
def test_yes(text: str) -> None:
    assert read_yes_no(text) is True


@pytest.mark.parametrize("text", ["no", "N", "nope", "No thanks", "2"])
def test_no(text: str) -> None:
    assert read_yes_no(text) is False


@pytest.mark.parametrize("text", ["maybe", "what?", "3", ""])
def test_neither_yes_nor_no(text: str) -> None:
    with pytest.raises(Unreadable, match="YES or NO"):
        read_yes_no(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("7", 7),
        ("10", 10),
        ("seven", 7),
        ("Ten", 10),
        ("7/10", 7),
        ("about 6", 6),
        ("8 out of 10", 8),
        ("zero", 0),
    ],
)
def test_scale(text: str, value: int) -> None:
    assert read_scale(text) == value


@pytest.mark.parametrize("text", ["11", "-1", "eleven", "7.5", "lots", "", "100", "none"])
def test_scale_refuses_anything_else(text: str) -> None:
    with pytest.raises(Unreadable, match="0 to 10"):
        read_scale(text)


def test_choices_keep_the_patients_order_and_own_words() -> None:
    assert read_choices("2 4 my knees", TOPICS) == ["Pain", "Sleep", "my knees"]
    assert read_choices("sleep, 1", TOPICS) == ["Sleep", "Medicines"]
    assert read_choices("1, 3 and 9", TOPICS) == ["Medicines", "Mood and worries", "Loneliness"]
    assert read_choices("my knees", TOPICS) == ["my knees"]


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        (
            "Can we talk about whether my water tablets cause the night time toilet trips",
            ["Can we talk about whether my water tablets cause the night time toilet trips"],
        ),
        (
            "Can we talk about whether my tablets cause sleep problems?",
            ["Sleep", "Can we talk about whether my tablets cause sleep problems?"],
        ),
        ("Medicines, especially my Water Tablets.", ["Medicines", "especially my Water Tablets."]),
        ("2 and I\u2019d like to talk about my knees", ["Pain", "my knees"]),
        ("I\u2019d like to talk about pain", ["Pain"]),
    ],
)
def test_choices_keep_the_patients_own_words_exactly_as_written(
    text: str, chosen: list[str]
) -> None:
    assert read_choices(text, TOPICS) == chosen


def test_choices_none_is_an_empty_list() -> None:
    assert read_choices("NONE", NEEDS) == []


def test_choices_out_of_range_numbers_are_refused() -> None:
    with pytest.raises(Unreadable, match="1 to 10"):
        read_choices("12", TOPICS)


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("1", "Every 3 months"),
        ("6 months", "Every 6 months"),
        ("once a year", "Every 12 months"),
        ("Every 12 months", "Every 12 months"),
        ("decide", "Decide at the appointment"),
        ("4", "Decide at the appointment"),
    ],
)
def test_single_choice(text: str, option: str) -> None:
    assert read_answer(REVIEW_INTERVAL, text) == option


def test_single_choice_refuses_other_numbers() -> None:
    with pytest.raises(Unreadable, match="1, 2, 3 or 4"):
        read_answer(REVIEW_INTERVAL, "7")


def test_free_text_is_kept_verbatim() -> None:
    text = "I want to stop feeling tired <b>all</b> the time"
    assert read_answer(PREPARE.question(QuestionId.WHAT_MATTERS), f"  {text} ") == text


def test_empty_and_huge_answers_are_refused_with_a_reason() -> None:
    with pytest.raises(Unreadable, match="didn't get an answer"):
        read_answer(PREPARE.question(QuestionId.GOING_WELL), "   ")
    with pytest.raises(Unreadable, match="under 3,000 characters"):
        read_answer(PREPARE.question(QuestionId.GOING_WELL), "x" * 5000)
