"""Custom actions with a real Tracker, a real CollectingDispatcher and a real store.

The rules themselves are tested without Rasa (tests/test_preparation_conversation.py);
these check that the actions translate the tracker to them and their turns back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from bot.actions import slots
from bot.actions.commands import ActionGoBack, ActionSkipQuestion
from bot.actions.preparation_form import ValidatePreparationForm
from bot.actions.safety import ActionSafetyNetting
from bot.actions.session import ActionStartPreparation
from bot.actions.store import use_settings
from careprep.preparation import messages
from careprep.preparation.conversation import ask
from careprep.preparation.progress import SKIPPED
from careprep.preparation.questionnaire import PREPARE, QuestionId
from careprep.safety import SAFETY_KEY, flags
from careprep.settings import Settings
from careprep.store import session_scope
from careprep.store.models import Answer, Goal, Preparation, SafetyFlag
from tests.factories import book

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[1] / "domain.yml").read_text())
Q = QuestionId


@pytest.fixture
def database(settings: Settings) -> Iterator[str]:
    """The test store, given to the actions as their settings."""
    use_settings(settings)
    yield settings.database_url
    use_settings(None)


@pytest.fixture
def token(database: str) -> str:
    with session_scope(database) as session:
        return str(book(session).preparation.invite_token)


def tracker(
    sender: str,
    text: str,
    requested: str | None,
    channel: str = "rest",
    parse_data: dict[str, Any] | None = None,
    **slot_values: Any,
) -> Tracker:
    values = {name: None for name in DOMAIN["slots"]}
    values.update({slots.INVITED: True, slots.REQUESTED: requested})
    values.update(slot_values)
    message = {"text": text, "intent": {"name": "inform"}, **(parse_data or {})}
    events: list[dict[str, Any]] = [
        {"event": "user", "text": text, "parse_data": message, "input_channel": channel}
    ]
    if requested:
        values[requested] = text
        events.append({"event": "slot", "name": requested, "value": text})
    return Tracker(
        sender_id=sender,
        slots=values,
        latest_message=message,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": slots.FORM} if requested else {},
        latest_action_name="action_listen",
    )


def run(action: Action, state: Tracker) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, state, DOMAIN))
    changed = {
        event["name"]: event["value"]
        for event in events
        if event["event"] == "slot" and event["name"] != slots.REQUESTED
    }
    return changed, [message["text"] for message in dispatcher.messages]


def stored(database_url: str) -> dict[str, Answer]:
    with session_scope(database_url) as session:
        rows = session.query(Answer).all()
        session.expunge_all()
        return {row.question_id: row for row in rows}


def goal_table(database_url: str) -> list[str]:
    with session_scope(database_url) as session:
        return list(session.execute(select(Goal.text).order_by(Goal.position)).scalars())


def test_an_answer_is_stored_on_the_turn_it_is_given(token: str, database: str) -> None:
    changed, said = run(ValidatePreparationForm(), tracker(token, "  My dog, Rex ", Q.WHAT_MATTERS))
    assert changed[Q.WHAT_MATTERS] == "My dog, Rex"
    assert said == [ask_text(Q.CONSENT_START, {Q.WHAT_MATTERS: "My dog, Rex"})]
    assert stored(database)[Q.WHAT_MATTERS].raw_text == "  My dog, Rex "


def test_confidence_outside_0_to_10_is_asked_again_with_the_reason(
    token: str, database: str
) -> None:
    earlier = answered_up_to(Q.CONFIDENCE)
    changed, said = run(
        ValidatePreparationForm(), tracker(token, "eleven", Q.CONFIDENCE, **earlier)
    )
    assert changed[Q.CONFIDENCE] is None
    assert said == [
        "Please reply with one number from 0 to 10, for example 6. "
        "It shows how much support you may want. There is no right or wrong answer.",
        ask_text(Q.CONFIDENCE, earlier),
    ]
    assert Q.CONFIDENCE not in stored(database)


def test_goals_are_collected_until_no(token: str, database: str) -> None:
    changed, _ = run(ValidatePreparationForm(), tracker(token, "Walk to the shops", Q.GOALS))
    assert changed == {Q.GOALS: None, slots.GOAL_LIST: ["Walk to the shops"]}
    changed, _ = run(
        ValidatePreparationForm(),
        tracker(token, "no", Q.GOALS, **{slots.GOAL_LIST: ["Walk to the shops"]}),
    )
    assert changed[Q.GOALS] == ["Walk to the shops"]
    assert goal_table(database) == ["Walk to the shops"]


def test_skip_is_recorded(token: str, database: str) -> None:
    changed, _ = run(
        ActionSkipQuestion(), tracker(token, "skip", None, **{slots.REQUESTED: Q.GOOD_DAY})
    )
    assert changed == {Q.GOOD_DAY: SKIPPED}
    assert stored(database)[Q.GOOD_DAY].skipped is True


def test_consent_to_start_cannot_be_skipped(token: str, database: str) -> None:
    changed, said = run(
        ActionSkipQuestion(), tracker(token, "skip", None, **{slots.REQUESTED: Q.CONSENT_START})
    )
    assert changed == {} and said == ["Sorry, this one can't be skipped."]


def test_back_clears_the_named_answer(token: str) -> None:
    state = tracker(
        token,
        "change my goals",
        None,
        **{
            slots.REQUESTED: Q.SUPPORT,
            Q.GOALS: ["swim"],
            slots.GOAL_LIST: ["swim"],
            Q.WHAT_MATTERS: "family",
        },
    )
    changed, said = run(ActionGoBack(), state)
    assert changed == {Q.GOALS: None, slots.GOAL_LIST: []}
    assert said == ["OK, back to question 6 of 14."]


def test_start_loads_answers_from_the_store(token: str, database: str) -> None:
    run(ValidatePreparationForm(), tracker(token, "My family", Q.WHAT_MATTERS))
    changed, said = run(ActionStartPreparation(), tracker(token, "hi", None))
    assert changed[Q.WHAT_MATTERS] == "My family"
    assert changed[slots.INVITED] is True
    assert said == ["Welcome back. Let's carry on where you left off."]


def test_an_unknown_sender_gets_a_polite_reply_and_no_questions(database: str) -> None:
    changed, said = run(ActionStartPreparation(), tracker("not-a-token", "hi", None))
    assert changed == {slots.INVITED: False}
    assert "can't find an invitation" in said[0]


def ask_text(question_id: str, slot_values: dict[str, Any]) -> str:
    """The question as the form asks it in a conversation with these slot values."""
    return ask(slots.conversation_of(tracker("x", "", None, **slot_values)), question_id).text


def answered_up_to(question_id: str) -> dict[str, Any]:
    """Slot values of a conversation that has answered every question before ``question_id``."""
    before = PREPARE.flow_ids[: PREPARE.flow_ids.index(question_id)]
    return {each: True if each == Q.CONSENT_START else "an answer" for each in before}


def test_questions_show_progress() -> None:
    _, said = run(ValidatePreparationForm(), tracker("x", "", None, **answered_up_to(Q.TOPICS)))
    assert said[0].startswith(f"Question {PREPARE.flow_ids.index(Q.TOPICS) + 1} of 14: ")
    assert "\n10 Something else" in said[0]


def test_yes_no_questions_offer_their_options_as_buttons() -> None:
    dispatcher = CollectingDispatcher()
    asyncio.run(ValidatePreparationForm().run(dispatcher, tracker("x", "", None), DOMAIN))
    assert [button["title"] for button in dispatcher.messages[0]["buttons"]] == ["Yes", "No"]


def test_one_call_reads_the_reply_and_asks_the_next_question(token: str, database: str) -> None:
    state = tracker(token, "My dog, Rex", Q.WHAT_MATTERS, **answered_up_to(Q.WHAT_MATTERS))
    events = asyncio.run(
        ValidatePreparationForm().run(dispatcher := CollectingDispatcher(), state, DOMAIN)
    )
    asked = [event["value"] for event in events if event.get("name") == slots.REQUESTED]
    assert asked == [Q.GOING_WELL]
    assert [message["text"] for message in dispatcher.messages] == [
        ask_text(Q.GOING_WELL, answered_up_to(Q.GOING_WELL))
    ]


def test_the_form_ends_without_asking_when_nothing_is_left(token: str, database: str) -> None:
    state = tracker(token, "yes", Q.CONSENT_SHARE, **answered_up_to(Q.CONSENT_SHARE))
    events = asyncio.run(
        ValidatePreparationForm().run(dispatcher := CollectingDispatcher(), state, DOMAIN)
    )
    assert [event["value"] for event in events if event.get("name") == slots.REQUESTED] == [None]
    assert not any(message["text"].startswith("Question") for message in dispatcher.messages)


def test_the_third_goal_ends_the_goals_question(token: str, database: str) -> None:
    two = ["Walk to the shops", "Sleep better"]
    changed, _ = run(
        ValidatePreparationForm(),
        tracker(token, "Swim again", Q.GOALS, **{slots.GOAL_LIST: two}),
    )
    assert changed[Q.GOALS] == [*two, "Swim again"]
    assert goal_table(database) == [*two, "Swim again"]


def test_a_no_to_sharing_is_kept_with_its_time(token: str, database: str) -> None:
    changed, _ = run(ValidatePreparationForm(), tracker(token, "2", Q.CONSENT_SHARE))
    assert changed[Q.CONSENT_SHARE] is False
    with session_scope(database) as session:
        preparation = session.query(Preparation).one()
        assert preparation.consent_to_share is False
        assert preparation.consent_to_share_at is not None


def test_by_sms_the_form_checks_the_date_of_birth_first(token: str) -> None:
    form = ValidatePreparationForm()
    dispatcher = CollectingDispatcher()
    by_sms = tracker(token, "hi", None, channel=slots.SMS_CHANNEL)
    required = asyncio.run(form.required_slots([], dispatcher, by_sms, DOMAIN))
    assert required == [Q.IDENTITY, *PREPARE.flow_ids]
    by_link = tracker(token, "hi", None)
    assert asyncio.run(form.required_slots([], dispatcher, by_link, DOMAIN)) == list(
        PREPARE.flow_ids
    )


def test_a_concern_the_nlu_found_in_an_answer_is_signposted_first_and_pauses(
    token: str, database: str
) -> None:
    text = "My family. But I've had chest pain all morning"
    found = {SAFETY_KEY: [{"level": "emergency", "words": "chest pain", "source": "rules"}]}
    changed, said = run(
        ValidatePreparationForm(), tracker(token, text, Q.WHAT_MATTERS, parse_data=found)
    )
    assert said == [messages.SAFETY_REPLIES["emergency"]]
    assert changed == {Q.WHAT_MATTERS: text, slots.SAFETY_PAUSE: True}
    with session_scope(database) as session:
        assert session.execute(select(SafetyFlag.question_id)).scalar_one() == Q.WHAT_MATTERS


def test_a_concern_outside_the_questions_is_signposted_and_flagged(
    token: str, database: str
) -> None:
    text = "my husband has collapsed"
    found = {"intent": {"name": "safety_emergency"}}
    changed, said = run(ActionSafetyNetting(), tracker(token, text, None, parse_data=found))
    assert (changed, said) == ({}, [messages.SAFETY_REPLIES["emergency"]])
    with session_scope(database) as session:
        assert session.execute(select(SafetyFlag.message)).scalar_one() == text


def test_a_flag_keeps_the_versions_of_the_nets_that_found_it_without_loading_them(
    token: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Rasa server found the concern; the action server records its versions and loads
    # no net of its own (loading them took four turns arriving at once a minute).
    def loads_the_nets() -> None:
        raise AssertionError("the action server loaded the safety nets to raise a flag")

    monkeypatch.setattr(flags, "versions", loads_the_nets)
    entry = {"level": "urgent", "words": "fever", "source": "classifier"}
    found = {SAFETY_KEY: [{**entry, "patterns": "4+rasa", "classifier": "linear-rasa"}]}
    text = "fever and shivers since lunch"
    run(ActionSafetyNetting(), tracker(token, text, None, parse_data=found))
    with session_scope(database) as session:
        flag = session.execute(select(SafetyFlag)).scalar_one()
        assert (flag.level, flag.detected_by, flag.pattern_version, flag.classifier_version) == (
            "urgent",
            "classifier",
            "4+rasa",
            "linear-rasa",
        )
