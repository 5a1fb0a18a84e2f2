"""The preparation conversation over Rasa's REST channel, with the trained model."""

from __future__ import annotations

import json

import pytest

from careprep.preparation import messages
from careprep.preparation.questionnaire import position, question
from tests.rasa_stack import RasaStack
from tests.safety_samples import carries_signposting, expected_level, held_out_red_flags

pytestmark = pytest.mark.rasa

ANSWERS = [
    ("consent_start", "yes"),
    ("what_matters", "My grandchildren and my garden"),
    ("going_well", "I walk to church every Sunday"),
    ("not_going_well", "My knees hurt on the stairs"),
    ("good_day", "No pain and a visit from my son"),
    ("goals", "Walk to the shops without stopping"),
    ("goals", "Sleep through the night"),
    ("goals", "no"),
    ("topics", "2 4 my knees"),
    ("questions", "Can I take ibuprofen with my tablets?"),
    ("support", "My daughter Jo. I'd like her to come with me."),
    ("confidence", "six"),
    ("needs", "4"),
    ("review_interval", "Every 6 months"),
    ("readback", "yes"),
    ("consent_share", "yes"),
]


def asks(reply_text: str, question_id: str) -> bool:
    """Whether a reply asks this question (the goals follow-up and read-back count)."""
    also = {"readback": "Here is what you told me", "goals": messages.ANYTHING_ELSE_GOAL}
    return question(question_id).text in reply_text or also.get(question_id, "\0") in reply_text


def start(stack: RasaStack, token: str) -> None:
    reply = stack.say(token, "hi")
    assert "care planning appointment" in reply.texts[0]
    assert "not read in real time" in reply.texts[0]
    assert reply.last.startswith("Question 1 of 14: Are you happy to go ahead?")
    assert reply.buttons[-1] == ["Yes", "No"]


def answer_until(stack: RasaStack, token: str, stop_before: str) -> None:
    """Give the happy-path answers up to (not including) the question ``stop_before``."""
    for question_id, text in ANSWERS:
        if question_id == stop_before:
            return
        stack.say(token, text)


def at_question(stack: RasaStack, question_id: str) -> str:
    """Start a new preparation and answer up to ``question_id``; return the sender token."""
    token = stack.invite()
    start(stack, token)
    answer_until(stack, token, question_id)
    return token


def stored(stack: RasaStack, token: str, field: str = "value") -> dict[str, object]:
    return stack.stored(stack.appointment_id(token), field)


def test_a_whole_preparation_is_stored_and_exported(rasa: RasaStack) -> None:
    token = rasa.invite()
    start(rasa, token)
    for number, (_, text) in enumerate(ANSWERS[:-1]):
        reply = rasa.say(token, text)
        following = ANSWERS[number + 1][0]
        assert asks(reply.last, following), (text, reply.texts)
    reply = rasa.say(token, ANSWERS[-1][1])
    assert reply.texts == [
        "Thank you, you have finished. Your answers will be shared with your care team "
        "before your appointment."
    ]
    record = json.loads(rasa.export(token, "json"))
    assert record["preparation_status"] == "complete"
    assert record["consent_to_share"] is True
    assert record["completeness"] == {"answered": 14, "skipped": 0, "not_reached": 0}
    values = {section["question_id"]: section["value"] for section in record["sections"]}
    assert values["goals"] == ["Walk to the shops without stopping", "Sleep through the night"]
    assert values["topics"] == ["Pain", "Sleep", "my knees"]
    assert values["confidence"] == 6
    assert values["needs"] == ["A longer appointment"]
    text = rasa.export(token)
    for question_id, given in ANSWERS:
        if question_id in (
            "what_matters",
            "going_well",
            "not_going_well",
            "good_day",
            "questions",
            "support",
        ):
            assert given in text


def test_the_same_on_postgresql(rasa_on_postgres: RasaStack) -> None:
    token = rasa_on_postgres.invite()
    start(rasa_on_postgres, token)
    for _, text in ANSWERS:
        reply = rasa_on_postgres.say(token, text)
    assert "you have finished" in reply.last
    assert "What matters to me: My grandchildren and my garden" in rasa_on_postgres.export(token)


@pytest.mark.parametrize("at", ["what_matters", "confidence"])
def test_why_explains_then_asks_again(rasa: RasaStack, at: str) -> None:
    token = at_question(rasa, at)
    reply = rasa.say(token, "WHY")
    assert reply.texts[0] == question(at).reason
    assert asks(reply.last, at)
    reply = rasa.say(token, "why do you ask?")
    assert reply.texts[0] == question(at).reason


@pytest.mark.parametrize(("at", "then"), [("good_day", "goals"), ("questions", "support")])
def test_skip_records_a_skip_and_moves_on(rasa: RasaStack, at: str, then: str) -> None:
    token = at_question(rasa, at)
    reply = rasa.say(token, "SKIP")
    assert asks(reply.last, then)
    assert stored(rasa, token, "state")[at] == "skipped"


@pytest.mark.parametrize(("at", "back_to"), [("going_well", "what_matters"), ("topics", "goals")])
def test_back_goes_to_the_question_before(rasa: RasaStack, at: str, back_to: str) -> None:
    token = at_question(rasa, at)
    reply = rasa.say(token, "back")
    assert asks(reply.last, back_to)
    reply = rasa.say(token, "A different answer")
    if back_to == "goals":
        reply = rasa.say(token, "that's all")
    assert asks(reply.last, at)
    assert stored(rasa, token)[back_to] in ("A different answer", ["A different answer"])


def test_change_my_goals_from_the_readback(rasa: RasaStack) -> None:
    token = at_question(rasa, "readback")
    reply = rasa.say(token, "change my goals")
    assert asks(reply.last, "goals")
    rasa.say(token, "Swim again")
    reply = rasa.say(token, "no")
    assert "5 My goals: Swim again" in reply.last
    assert "Sleep through the night" not in reply.last
    reply = rasa.say(token, "3")
    assert asks(reply.last, "not_going_well")
    reply = rasa.say(token, "Nothing much")
    assert "3 What is not going well: Nothing much" in reply.last


@pytest.mark.parametrize(("at", "command"), [("consent_start", "HELP"), ("support", "help")])
def test_help_lists_the_commands_then_asks_again(rasa: RasaStack, at: str, command: str) -> None:
    token = at_question(rasa, at)
    reply = rasa.say(token, command)
    assert "WHY - why I ask a question" in reply.texts[0]
    assert "999" in reply.texts[0]
    assert asks(reply.last, at)


@pytest.mark.parametrize(
    ("at", "command"), [("not_going_well", "PAUSE"), ("needs", "carry on later")]
)
def test_pause_keeps_progress_and_resumes_at_the_same_question(
    rasa: RasaStack, at: str, command: str
) -> None:
    token = at_question(rasa, at)
    reply = rasa.say(token, command)
    assert reply.texts == [
        "No problem. Your answers so far are saved. Message me any time and we will carry on "
        f"from question {position(at)}."
    ]
    reply = rasa.say(token, "hello")
    assert reply.texts[0] == "Welcome back. Let's carry on where you left off."
    assert asks(reply.last, at)


@pytest.mark.parametrize(
    ("at", "text"),
    [
        ("what_matters", "I want to stop feeling tired"),
        ("not_going_well", "no idea"),
        ("going_well", "why bother"),
        ("questions", "Why does my hip hurt? <b>help</b>"),
        ("good_day", "skip the pain, see my friends"),
    ],
)
def test_free_text_is_kept_verbatim_not_taken_for_a_command(
    rasa: RasaStack, at: str, text: str
) -> None:
    token = at_question(rasa, at)
    rasa.say(token, text)
    assert stored(rasa, token)[at] == text


def test_confidence_refuses_anything_but_0_to_10(rasa: RasaStack) -> None:
    token = at_question(rasa, "confidence")
    for wrong in ("11", "eleven", "-1", "quite good", "7.5"):
        reply = rasa.say(token, wrong)
        assert reply.texts[0].startswith("Please reply with one number from 0 to 10"), wrong
        assert question("confidence").reason in reply.texts[0]
        assert asks(reply.last, "confidence")
    reply = rasa.say(token, "Seven")
    assert asks(reply.last, "needs")
    assert stored(rasa, token)["confidence"] == 7


def test_saying_no_at_the_start_asks_nothing_more(rasa: RasaStack) -> None:
    token = rasa.invite()
    start(rasa, token)
    reply = rasa.say(token, "no")
    assert reply.texts[0].startswith("That's fine, I won't ask anything else.")
    assert json.loads(rasa.export(token, "json"))["preparation_status"] == "declined"
    reply = rasa.say(token, "hi")
    assert reply.last.startswith("Question 1 of 14: Are you happy to go ahead?")


def test_an_unknown_sender_is_told_politely_and_asked_nothing(rasa: RasaStack) -> None:
    reply = rasa.say("somebody-else", "hello")
    assert reply.texts == [messages.NO_INVITATION]
    assert "not read in real time" in reply.texts[0]


def test_a_finished_preparation_can_be_changed_later(rasa: RasaStack) -> None:
    token = rasa.invite()
    start(rasa, token)
    for _, text in ANSWERS:
        rasa.say(token, text)
    reply = rasa.say(token, "hello")
    assert reply.texts == [
        "Thank you, your answers are saved and up to date. "
        "To change an answer, reply for example: change my goals."
    ]
    reply = rasa.say(token, "change my confidence")
    assert asks(reply.last, "confidence")
    rasa.say(token, "3")
    reply = rasa.say(token, "yes")
    assert "saved and up to date" in reply.last
    assert "My confidence: 3 out of 10 (may need more support)" in rasa.export(token)


def test_resume_after_every_process_restarted(rasa: RasaStack) -> None:
    token = rasa.invite()
    paused = rasa.invite(name="Bea Example", phone="07700 900555")
    start(rasa, token)
    start(rasa, paused)
    answer_until(rasa, token, "going_well")
    answer_until(rasa, paused, "topics")
    rasa.say(paused, "pause")

    rasa.restart()

    reply = rasa.say(token, "Painting with my grandson")
    assert asks(reply.last, "not_going_well")
    reply = rasa.say(paused, "hi")
    assert reply.texts[0] == "Welcome back. Let's carry on where you left off."
    assert asks(reply.last, "topics")
    values = stored(rasa, token)
    assert values["what_matters"] == "My grandchildren and my garden"
    assert values["going_well"] == "Painting with my grandson"


@pytest.mark.parametrize("at", ["what_matters", "support"])
def test_an_emergency_inside_an_answer_is_signposted_first_and_flagged(
    rasa: RasaStack, at: str
) -> None:
    token = at_question(rasa, at)
    said = "My family. But I've had chest pain all morning and my arm feels numb"
    reply = rasa.say(token, said)
    assert reply.texts[0] == messages.SAFETY_REPLIES["emergency"]
    assert reply.texts[1] == messages.SAFETY_PAUSE
    record = json.loads(rasa.export(token, "json"))
    (flag,) = record["safety_flags"]
    assert flag["level"] == "emergency" and flag["message"] == said
    assert stored(rasa, token)[at] == said
    # The practice sees the flag now, but not the answers the patient has not agreed to share.
    assert all(section["value"] is None for section in record["sections"])
    reply = rasa.say(token, "hello")
    assert reply.texts[0] == messages.WELCOME_BACK
    assert not asks(reply.last, at)
    assert reply.last.startswith(f"Question {position(at) + 1} of 14")
    text = rasa.export(token)
    assert text.index("SAFETY FLAGS") < text.index("SUMMARY") < text.index("Preparation:")
    assert "has not agreed to share their answers" in text and said in text


def test_an_urgent_concern_is_signposted_and_the_questions_go_on(rasa: RasaStack) -> None:
    token = at_question(rasa, "not_going_well")
    reply = rasa.say(token, "I've been vomiting all day and can't keep water down")
    assert reply.texts[0] == messages.SAFETY_REPLIES["urgent"]
    assert asks(reply.last, "good_day")


def test_a_crisis_at_a_yes_no_question_is_signposted_and_nothing_else_is_asked(
    rasa: RasaStack,
) -> None:
    token = rasa.invite()
    start(rasa, token)
    reply = rasa.say(token, "i dont want to be here anymore")
    assert reply.texts == [messages.SAFETY_REPLIES["mental_health"], messages.SAFETY_PAUSE]
    assert "116 123" in reply.texts[0] and "option 2" in reply.texts[0]
    assert json.loads(rasa.export(token, "json"))["safety_flags"][0]["level"] == "mental_health"


def test_a_concern_outside_the_questions_and_from_a_stranger(rasa: RasaStack) -> None:
    token = rasa.invite()
    start(rasa, token)
    rasa.say(token, "pause")
    reply = rasa.say(token, "my husband has collapsed")
    assert reply.texts == [messages.SAFETY_REPLIES["emergency"]]
    assert json.loads(rasa.export(token, "json"))["safety_flags"][0]["message"] == (
        "my husband has collapsed"
    )
    reply = rasa.say("not-invited", "I want to kill myself")
    assert reply.texts == [messages.SAFETY_REPLIES["mental_health"]]


def test_held_out_red_flags_get_their_signposting_first_over_rest(rasa: RasaStack) -> None:
    sample = held_out_red_flags(per_level=5, salt="rest")
    token = rasa.invite()
    start(rasa, token)
    rasa.say(token, "yes")
    signposted = set()
    for example in sample:
        reply = rasa.say(token, example.text)
        level = expected_level(example.text)
        if level is not None:
            assert carries_signposting(reply.texts[0], level), (example, reply.texts)
            signposted.add(example.text)
    assert len(signposted) >= len(sample) // 2
    flagged = {flag["message"] for flag in json.loads(rasa.export(token, "json"))["safety_flags"]}
    assert flagged == signposted


def test_a_no_to_sharing_is_respected_and_recorded(rasa: RasaStack) -> None:
    token = at_question(rasa, "consent_share")
    reply = rasa.say(token, "no")
    assert reply.texts == [messages.COMPLETE_PRIVATE]
    record = json.loads(rasa.export(token, "json"))
    assert record["preparation_status"] == "complete"
    assert record["consent_to_share"] is False and record["consent_to_share_at"]
    assert "Consent to share with the care team: No" in rasa.export(token)
