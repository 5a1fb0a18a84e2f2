"""Starting, resuming and finishing a preparation conversation."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.preparation_form import GOAL_LIST, IDENTITY_LOCKED, INVITED, SMS
from bot.actions.safety import SAFETY_PAUSE
from bot.actions.store import with_preparation
from careprep.patients.identity import is_locked
from careprep.preparation import messages
from careprep.preparation.progress import (
    introduction,
    record_complete,
    restart_after_decline,
    slot_values,
)
from careprep.store.models import Preparation, PreparationStatus


class ActionStartPreparation(Action):
    """Greets the patient and loads their answers so far from the store."""

    def name(self) -> str:
        """Return the action name."""
        return "action_start_preparation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Introduce the preparation, or welcome the patient back to where they were."""
        by_sms = tracker.get_latest_input_channel() == SMS

        def start(session: Session, preparation: Preparation | None) -> list[EventType]:
            if preparation is None:
                dispatcher.utter_message(
                    text=messages.NOT_FOUND_BY_SMS if by_sms else messages.NO_INVITATION
                )
                return [SlotSet(INVITED, False)]
            if by_sms and is_locked(preparation):
                dispatcher.utter_message(text=messages.IDENTITY_LOCKED)
                return [SlotSet(INVITED, True), SlotSet(IDENTITY_LOCKED, True)]
            restart_after_decline(session, preparation)
            confirmed = preparation.identity_verified_at is not None
            if by_sms and not confirmed:
                dispatcher.utter_message(text=messages.SMS_GREETING)
            elif preparation.status == PreparationStatus.NOT_STARTED and not preparation.answers:
                dispatcher.utter_message(text=introduction(preparation))
            elif preparation.status != PreparationStatus.COMPLETE:
                dispatcher.utter_message(text=messages.WELCOME_BACK)
            values = slot_values(preparation)
            goals = values.get("goals")
            return [
                SlotSet(INVITED, True),
                SlotSet(SAFETY_PAUSE, False),
                SlotSet(IDENTITY_LOCKED, False),
                SlotSet("identity", True if confirmed else None),
                SlotSet(GOAL_LIST, goals if isinstance(goals, list) else []),
                *(SlotSet(slot, value) for slot, value in values.items()),
            ]

        return await with_preparation(tracker.sender_id, start)


class ActionFinishPreparation(Action):
    """Runs when the form ends: thanks the patient, or respects a "no"."""

    def name(self) -> str:
        """Return the action name."""
        return "action_finish_preparation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Mark the preparation complete and say what happens next."""
        if tracker.get_slot(IDENTITY_LOCKED):
            return []
        if tracker.get_slot(SAFETY_PAUSE):
            dispatcher.utter_message(text=messages.SAFETY_PAUSE)
            return [SlotSet(SAFETY_PAUSE, False)]

        def finish(session: Session, preparation: Preparation | None) -> str | None:
            if preparation is None:
                return None
            if preparation.status == PreparationStatus.DECLINED:
                return messages.DECLINED
            if record_complete(preparation):
                return (
                    messages.COMPLETE_SHARED
                    if preparation.consent_to_share
                    else messages.COMPLETE_PRIVATE
                )
            return messages.ALREADY_COMPLETE

        closing = await with_preparation(tracker.sender_id, finish)
        if closing:
            dispatcher.utter_message(text=closing)
        return []
