"""The commands inside (and outside) the preparation: WHY, SKIP, BACK, PAUSE and SUMMARY.

HELP is the domain's ``utter_help`` response (the same words as the core's ``messages.HELP``).
"""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions import slots
from bot.actions.store import settings, with_preparation
from careprep.preparation.conversation import (
    Turn,
    explain,
    go_back,
    pause,
    send_summary,
    skip,
)
from careprep.store.models import Preparation


class ActionExplainQuestion(Action):
    """WHY: says in one line why the current question is asked."""

    def name(self) -> str:
        """Return the action name."""
        return "action_explain_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Send the reason for the question being asked (or for the whole preparation)."""
        slots.say(dispatcher, explain(slots.conversation_of(tracker)))
        return []


class ActionSkipQuestion(Action):
    """SKIP: records the current question as skipped and moves on."""

    def name(self) -> str:
        """Return the action name."""
        return "action_skip_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Store the skip and set the slots it changes."""
        before = slots.conversation_of(tracker)

        def skip_in_store(session: Session, preparation: Preparation | None) -> Turn:
            return skip(session, preparation, before)

        turn = await with_preparation(tracker.sender_id, skip_in_store)
        slots.say(dispatcher, turn)
        return slots.changed_slots(before, turn.conversation)


class ActionGoBack(Action):
    """BACK / "change my goals": clears an earlier answer so that it is asked again."""

    def name(self) -> str:
        """Return the action name."""
        return "action_go_back"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Clear the named question, or the one before the current one."""
        before = slots.conversation_of(tracker)
        turn = go_back(before, tracker.latest_message.get("text"))
        slots.say(dispatcher, turn)
        return slots.changed_slots(before, turn.conversation)


class ActionPausePreparation(Action):
    """PAUSE: keeps the progress and says how to carry on."""

    def name(self) -> str:
        """Return the action name."""
        return "action_pause_preparation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Note the pause in the store and tell the patient how to come back."""
        conversation = slots.conversation_of(tracker)

        def pause_in_store(session: Session, preparation: Preparation | None) -> Turn:
            return pause(preparation, conversation)

        slots.say(dispatcher, await with_preparation(tracker.sender_id, pause_in_store))
        return []


class ActionSendSummary(Action):
    """SUMMARY: sends the patient their own copy of their answers."""

    def name(self) -> str:
        """Return the action name."""
        return "action_send_summary"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Send the copy, or say that the date of birth comes first."""
        conversation = slots.conversation_of(tracker)
        zone = settings().timezone

        def summary_from_store(session: Session, preparation: Preparation | None) -> Turn:
            return send_summary(session, preparation, conversation, zone)

        slots.say(dispatcher, await with_preparation(tracker.sender_id, summary_from_store))
        return []
