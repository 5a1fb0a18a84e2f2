"""Safety netting in the conversation: signposting first, then a flag for the practice."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot import messages
from bot.actions.store import with_preparation
from bot.safety import Level, level_of_intent
from bot.safety.flags import raise_flag
from bot.store.models import Preparation

SAFETY_PAUSE = "safety_pause"
STOPPING_LEVELS = (Level.EMERGENCY, Level.MENTAL_HEALTH)
"""After these, the next question waits until the patient writes again."""


def concern_in(tracker: Tracker) -> Level | None:
    """Return the level of concern the NLU safety check found in the latest message."""
    return level_of_intent((tracker.latest_message.get("intent") or {}).get("name"))


def respond_to_concern(
    session: Session,
    preparation: Preparation | None,
    level: Level,
    text: str,
    question_id: str | None,
    dispatcher: CollectingDispatcher,
) -> None:
    """Send the signposting for a concern and flag it for the patient's practice."""
    dispatcher.utter_message(text=messages.SAFETY_REPLIES[level.value])
    if preparation is not None:
        raise_flag(session, preparation, level.value, text, question_id)


class ActionSafetyNetting(Action):
    """Signposts a concern raised outside the questions (the form checks its own answers).

    The concern was found by the deterministic check in the NLU pipeline
    (``bot.nlu.safety``), which sets a ``safety_<level>`` intent.
    """

    def name(self) -> str:
        """Return the action name."""
        return "action_safety_netting"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Reply with the signposting for the message's concern and raise a flag."""
        text = tracker.latest_message.get("text") or ""
        level = concern_in(tracker)
        if level is None:
            return []

        def respond(session: Session, preparation: Preparation | None) -> None:
            respond_to_concern(session, preparation, level, text, None, dispatcher)

        await with_preparation(tracker.sender_id, respond)
        return []
