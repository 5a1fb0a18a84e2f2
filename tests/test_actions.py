"""Custom actions with a real Tracker, a real CollectingDispatcher and a real store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.commands import ActionGoBack, ActionSkipQuestion
from bot.actions.preparation_form import ASK_ACTIONS, ValidatePreparationForm
from bot.actions.session import ActionStartPreparation
from careprep.preparation.progress import SKIPPED
from careprep.preparation.questionnaire import FLOW_IDS
from careprep.store import session_scope
from careprep.store.models import Answer, Preparation
from tests.factories import book

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[1] / "domain.yml").read_text())


@pytest.fixture
def token(store_env: str) -> str:
    with session_scope(store_env) as session:
        return book(session).preparation.invite_token


def tracker(sender: str, text: str, requested: str | None, **slots: Any) -> Tracker:
    values = {name: None for name in DOMAIN["slots"]}
    values.update({"invited": True, "requested_slot": requested})
    values.update(slots)
    events: list[dict[str, Any]] = [
        {"event": "user", "text": text, "parse_data": {"intent": {"name": "inform"}}}
    ]
    if requested:
        values[requested] = text
        events.append({"event": "slot", "name": requested, "value": text})
    return Tracker(
        sender_id=sender,
        slots=values,
        latest_message={"text": text, "intent": {"name": "inform"}},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": "preparation_form"} if requested else {},
        latest_action_name="action_listen",
    )


def run(action: Action, state: Tracker) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, state, DOMAIN))
    slots = {
        event["name"]: event["value"]
        for event in events
        if event["event"] == "slot" and event["name"] != "requested_slot"
    }
    return slots, [message["text"] for message in dispatcher.messages]


def stored(database_url: str) -> dict[str, Answer]:
    with session_scope(database_url) as session:
        rows = session.query(Answer).all()
        session.expunge_all()
        return {row.question_id: row for row in rows}


def test_an_answer_is_stored_on_the_turn_it_is_given(token: str, store_env: str) -> None:
    slots, said = run(ValidatePreparationForm(), tracker(token, "  My dog, Rex ", "what_matters"))
    assert slots["what_matters"] == "My dog, Rex"
    assert said == []
    assert stored(store_env)["what_matters"].raw_text == "  My dog, Rex "


def test_confidence_outside_0_to_10_is_asked_again_with_the_reason(
    token: str, store_env: str
) -> None:
    slots, said = run(ValidatePreparationForm(), tracker(token, "eleven", "confidence"))
    assert slots["confidence"] is None
    assert said == [
        "Please reply with one number from 0 to 10, for example 6. "
        "It shows how much support you may want. There is no right or wrong answer."
    ]
    assert "confidence" not in stored(store_env)


def test_goals_are_collected_until_no(token: str, store_env: str) -> None:
    slots, _ = run(ValidatePreparationForm(), tracker(token, "Walk to the shops", "goals"))
    assert slots == {"goals": None, "goal_list": ["Walk to the shops"]}
    slots, _ = run(
        ValidatePreparationForm(),
        tracker(token, "no", "goals", goal_list=["Walk to the shops"]),
    )
    assert slots["goals"] == ["Walk to the shops"]
    assert stored(store_env)["goals"].value == ["Walk to the shops"]


def test_skip_is_recorded(token: str, store_env: str) -> None:
    slots, _ = run(ActionSkipQuestion(), tracker(token, "skip", None, requested_slot="good_day"))
    assert slots == {"good_day": SKIPPED}
    assert stored(store_env)["good_day"].skipped is True


def test_consent_to_start_cannot_be_skipped(token: str, store_env: str) -> None:
    slots, said = run(
        ActionSkipQuestion(), tracker(token, "skip", None, requested_slot="consent_start")
    )
    assert slots == {} and said == ["Sorry, this one can't be skipped."]


def test_back_clears_the_named_answer(token: str) -> None:
    state = tracker(
        token,
        "change my goals",
        None,
        requested_slot="support",
        goals=["swim"],
        goal_list=["swim"],
        what_matters="family",
    )
    slots, said = run(ActionGoBack(), state)
    assert slots == {"goals": None, "goal_list": []}
    assert said == ["OK, back to question 6 of 14."]


def test_start_loads_answers_from_the_store(token: str, store_env: str) -> None:
    run(ValidatePreparationForm(), tracker(token, "My family", "what_matters"))
    slots, said = run(ActionStartPreparation(), tracker(token, "hi", None))
    assert slots["what_matters"] == "My family"
    assert slots["invited"] is True
    assert said == ["Welcome back. Let's carry on where you left off."]


def test_an_unknown_sender_gets_a_polite_reply_and_no_questions(store_env: str) -> None:
    slots, said = run(ActionStartPreparation(), tracker("not-a-token", "hi", None))
    assert slots == {"invited": False}
    assert "can't find an invitation" in said[0]


def test_questions_show_progress() -> None:
    (ask_topics,) = [action for action in ASK_ACTIONS if action.question_id == "topics"]
    _, said = run(ask_topics(), tracker("x", "", None))
    assert said[0].startswith(f"Question {FLOW_IDS.index('topics') + 1} of 14: ")
    assert "\n10 Something else" in said[0]


def test_the_third_goal_ends_the_goals_question(token: str, store_env: str) -> None:
    two = ["Walk to the shops", "Sleep better"]
    slots, _ = run(ValidatePreparationForm(), tracker(token, "Swim again", "goals", goal_list=two))
    assert slots["goals"] == [*two, "Swim again"]
    assert stored(store_env)["goals"].value == [*two, "Swim again"]


def test_a_no_to_sharing_is_kept_with_its_time(token: str, store_env: str) -> None:
    slots, _ = run(ValidatePreparationForm(), tracker(token, "2", "consent_share"))
    assert slots["consent_share"] is False
    with session_scope(store_env) as session:
        preparation = session.query(Preparation).one()
        assert preparation.consent_to_share is False
        assert preparation.consent_to_share_at is not None
