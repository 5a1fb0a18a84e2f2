"""Starting, resuming and finishing a preparation conversation."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot import messages
from bot.actions.preparation_form import GOAL_LIST, INVITED
from bot.actions.safety import SAFETY_PAUSE
from bot.actions.store import with_preparation
from bot.preparation import record_complete, restart_after_decline, slot_values
from bot.settings import get_settings
from bot.store.models import Preparation, PreparationStatus


def appointment_words(preparation: Preparation) -> str:
    """Return the appointment time as a patient reads it ("Tuesday 1 December at 10:30")."""
    local = preparation.appointment.starts_at.astimezone(ZoneInfo(get_settings().timezone))
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"


class ActionStartPreparation(Action):
    """Greets the patient and loads their answers so far from the store."""

    def name(self) -> str:
        """Return the action name."""
        return "action_start_preparation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Introduce the preparation, or welcome the patient back to where they were."""

        def start(session: Session, preparation: Preparation | None) -> dict[str, Any] | None:
            if preparation is None:
                return None
            restart_after_decline(session, preparation)
            if preparation.status == PreparationStatus.NOT_STARTED and not preparation.answers:
                dispatcher.utter_message(
                    text=messages.INTRODUCTION.format(
                        practice=preparation.appointment.practice.name,
                        appointment=appointment_words(preparation),
                    )
                )
            elif preparation.status != PreparationStatus.COMPLETE:
                dispatcher.utter_message(text=messages.WELCOME_BACK)
            return slot_values(preparation)

        values = await with_preparation(tracker.sender_id, start)
        if values is None:
            dispatcher.utter_message(text=messages.NO_INVITATION)
            return [SlotSet(INVITED, False)]
        goals = values.get("goals")
        return [
            SlotSet(INVITED, True),
            SlotSet(SAFETY_PAUSE, False),
            SlotSet(GOAL_LIST, goals if isinstance(goals, list) else []),
            *(SlotSet(slot, value) for slot, value in values.items()),
        ]


class ActionFinishPreparation(Action):
    """Runs when the form ends: thanks the patient, or respects a "no"."""

    def name(self) -> str:
        """Return the action name."""
        return "action_finish_preparation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Mark the preparation complete and say what happens next."""
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
