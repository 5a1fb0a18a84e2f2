"""Safety netting in the conversation: the concerns the NLU found, handed to the core."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions import slots
from bot.actions.store import with_preparation
from careprep.preparation.conversation import Message, respond_to_concerns
from careprep.safety import SAFETY_KEY, SEVERITY, Concern, from_parse_data, level_of_intent
from careprep.store.models import Preparation


def concerns_in(tracker: Tracker) -> list[Concern]:
    """Return every concern the NLU safety netting found in the latest message, most urgent first.

    The NLU component keeps them under ``safety``; the intent alone carries the
    most urgent one, which is enough when the parse data has no list.
    """
    text = tracker.latest_message.get("text") or ""
    entries = tracker.latest_message.get(SAFETY_KEY) or []
    carried = (from_parse_data(entry, text) for entry in entries)
    found = [concern for concern in carried if concern is not None]
    if found:
        return sorted(found, key=lambda concern: SEVERITY.index(concern.level))
    level = level_of_intent((tracker.latest_message.get("intent") or {}).get("name"))
    return [Concern(level, text, "rules")] if level else []


class ActionSafetyNetting(Action):
    """Signposts a concern raised outside the questions (the form checks its own answers).

    The concern was found by the safety netting in the NLU pipeline
    (``bot.nlu.safety``), which sets a ``safety_<level>`` intent.
    """

    def name(self) -> str:
        """Return the action name."""
        return "action_safety_netting"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Reply with the signposting for the message's concerns and raise flags."""
        text = tracker.latest_message.get("text") or ""
        concerns = concerns_in(tracker)
        if not concerns:
            return []

        def respond(session: Session, preparation: Preparation | None) -> Message:
            return respond_to_concerns(session, preparation, concerns, text, None)

        slots.utter(dispatcher, await with_preparation(tracker.sender_id, respond))
        return []
