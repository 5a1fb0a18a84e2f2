"""Rasa NLU components of our own: deterministic intents the trained model may not override."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
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


class DeterministicIntentClassifier(GraphComponent, IntentClassifier):
    """Decides some intents by fixed rules: the rule's intent wins over the model's guess.

    If the model predicts one of ``ruled_intents`` but the rule finds nothing, the
    message becomes an answer (``inform``): the model may never decide these alone.
    """

    ruled_intents: tuple[str, ...] = ()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DeterministicIntentClassifier:
        """Create the component (it has nothing to train or load)."""
        return cls()

    @abstractmethod
    def decide(self, text: str | None) -> str | None:
        """Return the intent the rule gives this text, or None."""

    def decide_message(self, message: Message) -> str | None:
        """Return the intent the rule gives a message (its text, unless a subclass wants more)."""
        return self.decide(message.get(TEXT))

    def process(self, messages: list[Message]) -> list[Message]:
        """Apply the rule to each message."""
        for message in messages:
            decided = self.decide_message(message)
            if decided is not None:
                set_intent(message, decided)
            elif predicted_intent(message) in self.ruled_intents:
                set_intent(message, ANSWER_INTENT)
        return messages
