"""Safety netting in the conversation: signposting first, then a flag for the practice."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.store import with_preparation
from careprep.preparation import messages
from careprep.safety import SAFETY_KEY, SEVERITY, Level, level_of_intent
from careprep.safety.flags import raise_flag
from careprep.store.models import Preparation

SAFETY_PAUSE = "safety_pause"
STOPPING_LEVELS = (Level.EMERGENCY, Level.MENTAL_HEALTH, Level.SAFEGUARDING)
"""After these, the next question waits until the patient writes again."""


def concerns_in(tracker: Tracker) -> list[dict[str, Any]]:
    """Return every concern the NLU safety netting found in the latest message, most urgent first.

    The NLU component keeps them under ``safety``; the intent alone carries the
    most urgent one, which is enough when the parse data has no list.
    """
    found = [
        concern
        for concern in tracker.latest_message.get(SAFETY_KEY) or []
        if concern.get("level") in {level.value for level in SEVERITY}
    ]
    if found:
        return sorted(found, key=lambda concern: SEVERITY.index(Level(concern["level"])))
    level = level_of_intent((tracker.latest_message.get("intent") or {}).get("name"))
    return [{"level": level.value, "source": "rules"}] if level else []


def concern_in(tracker: Tracker) -> Level | None:
    """Return the most urgent level of concern in the latest message, or None."""
    found = concerns_in(tracker)
    return Level(found[0]["level"]) if found else None


def respond_to_concern(
    session: Session,
    preparation: Preparation | None,
    tracker: Tracker,
    text: str,
    question_id: str | None,
    dispatcher: CollectingDispatcher,
) -> None:
    """Send the signposting for every concern, most urgent first, and flag each for the practice."""
    found = concerns_in(tracker)
    dispatcher.utter_message(text=messages.safety_reply([concern["level"] for concern in found]))
    if preparation is not None:
        for concern in found:
            raise_flag(
                session, preparation, concern["level"], text, question_id, concern.get("source")
            )


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
        if concern_in(tracker) is None:
            return []

        def respond(session: Session, preparation: Preparation | None) -> None:
            respond_to_concern(session, preparation, tracker, text, None, dispatcher)

        await with_preparation(tracker.sender_id, respond)
        return []
