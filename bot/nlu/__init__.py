"""Rasa NLU components of our own: deterministic intents the trained model may not override."""

from __future__ import annotations

from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
)
from rasa.shared.nlu.training_data.message import Message

ANSWER_INTENT = "inform"


def set_intent(message: Message, name: str) -> None:
    """Make ``name`` the message's intent, with full confidence, at the top of the ranking."""
    intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
    ranking = [
        entry
        for entry in message.get(INTENT_RANKING_KEY) or []
        if entry.get(INTENT_NAME_KEY) != name
    ]
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)


def predicted_intent(message: Message) -> str | None:
    """Return the intent name set so far by the pipeline."""
    return (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
