"""Starting, resuming and finishing a preparation conversation."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions import slots
from bot.actions.store import settings, with_preparation
from careprep.preparation.conversation import Turn, finish, start
from careprep.store.models import Preparation


class ActionStartPreparation(Action):
    """Greets the patient and loads their answers so far from the store."""

    def name(self) -> str:
        """Return the action name."""
        return "action_start_preparation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Introduce the preparation, or welcome the patient back to where they were."""
        before = slots.conversation_of(tracker)
        zone = settings().timezone

        def start_in_store(session: Session, preparation: Preparation | None) -> Turn:
            return start(session, preparation, before, zone)

        turn = await with_preparation(tracker.sender_id, start_in_store)
        slots.say(dispatcher, turn)
        if turn.conversation.invited and not turn.conversation.identity_locked:
            return slots.every_slot(turn.conversation)
        return slots.changed_slots(before, turn.conversation)


class ActionFinishPreparation(Action):
    """Runs when the form ends: thanks the patient, or respects a "no"."""

    def name(self) -> str:
        """Return the action name."""
        return "action_finish_preparation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Mark the preparation complete and say what happens next."""
        before = slots.conversation_of(tracker)

        def finish_in_store(session: Session, preparation: Preparation | None) -> Turn:
            return finish(preparation, before)

        turn = await with_preparation(tracker.sender_id, finish_in_store)
        slots.say(dispatcher, turn)
        return slots.changed_slots(before, turn.conversation)
