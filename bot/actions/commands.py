"""The global commands inside (and outside) the preparation: WHY, SKIP, BACK and PAUSE."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.preparation_form import GOAL_LIST, slots_after_change, slots_to_ask_again
from bot.actions.store import with_preparation
from careprep.preparation import messages
from careprep.preparation.commands import parse_command
from careprep.preparation.progress import SKIPPED, record_answer, record_pause, record_skip
from careprep.preparation.questionnaire import (
    FLOW,
    FLOW_IDS,
    QUESTIONS_BY_ID,
    Kind,
    position,
    question,
)
from careprep.store.models import Preparation

UNSKIPPABLE = ("identity", "consent_start")


def _requested(tracker: Tracker) -> str | None:
    requested = tracker.get_slot("requested_slot")
    return requested if requested in QUESTIONS_BY_ID else None


def _asked_before(requested: str | None) -> tuple[str, ...]:
    """Return the questions asked before the current one (all of them outside the form)."""
    if requested is None:
        return FLOW_IDS
    return FLOW_IDS[: FLOW_IDS.index(requested)] if requested in FLOW_IDS else ()


class ActionExplainQuestion(Action):
    """WHY: says in one line why the current question is asked."""

    def name(self) -> str:
        """Return the action name."""
        return "action_explain_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Send the reason for the question being asked (or for the whole preparation)."""
        requested = _requested(tracker)
        if requested is None:
            dispatcher.utter_message(text=messages.WHY_PREPARE)
        else:
            dispatcher.utter_message(text=question(requested).reason)
        return []


class ActionSkipQuestion(Action):
    """SKIP: records the current question as skipped and moves on."""

    def name(self) -> str:
        """Return the action name."""
        return "action_skip_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Store the skip; goals already given and a skipped read-back count as done."""
        requested = _requested(tracker)
        if requested is None:
            return []
        if requested in UNSKIPPABLE:
            dispatcher.utter_message(text="Sorry, this one can't be skipped.")
            return []
        goals = tracker.get_slot(GOAL_LIST) or []

        def skip(session: Session, preparation: Preparation | None) -> dict[str, Any]:
            if preparation is None:
                return {}
            if question(requested).kind is Kind.GOALS and goals:
                return {requested: goals}
            if question(requested).kind is Kind.CONFIRM:
                record_answer(session, preparation, requested, True, "SKIP")
                return {requested: True}
            record_skip(session, preparation, requested)
            changes = {requested: SKIPPED, **slots_after_change(tracker, requested)}
            if question(requested).kind is Kind.GOALS:
                changes[GOAL_LIST] = []
            return changes

        changes = await with_preparation(tracker.sender_id, skip)
        return [SlotSet(slot, value) for slot, value in changes.items()]


class ActionGoBack(Action):
    """BACK / "change my goals": clears an earlier answer so that it is asked again."""

    def name(self) -> str:
        """Return the action name."""
        return "action_go_back"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Clear the named question, or the one before the current one."""
        command = parse_command(tracker.latest_message.get("text"))
        requested = _requested(tracker)
        answered = [qid for qid in FLOW_IDS if tracker.get_slot(qid) is not None]
        target = command.target if command else None
        if target is None:
            earlier = [qid for qid in _asked_before(requested) if qid in answered]
            target = earlier[-1] if earlier else None
        if target is None:
            dispatcher.utter_message(text="There is nothing to go back to yet.")
            return []
        if target not in answered:
            dispatcher.utter_message(text="We haven't got to that question yet.")
            return []
        dispatcher.utter_message(text=f"OK, back to question {position(target)} of {len(FLOW)}.")
        return [SlotSet(slot, value) for slot, value in slots_to_ask_again(tracker, target).items()]


class ActionPausePreparation(Action):
    """PAUSE: keeps the progress and says how to carry on."""

    def name(self) -> str:
        """Return the action name."""
        return "action_pause_preparation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Note the pause in the store and tell the patient how to come back."""

        def pause(session: Session, preparation: Preparation | None) -> None:
            if preparation is not None:
                record_pause(preparation)

        await with_preparation(tracker.sender_id, pause)
        requested = _requested(tracker)
        where = f" from question {position(requested)}" if requested in FLOW_IDS else ""
        dispatcher.utter_message(text=messages.PAUSED.format(where=where))
        return []
