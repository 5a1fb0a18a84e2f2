"""A Rasa NLU component that runs the safety netting on every message.

It runs last. When ``careprep.safety`` finds a concern the message gets the
``safety_<level>`` intent of the most urgent one whatever else was predicted (a
concern outranks a command), and every concern found is kept in the parse data
under ``safety`` for the actions. A trained guess of a safety intent without a
detected concern is turned back into ``inform``: the assistant's model never
decides this alone (the safety classifier is part of ``careprep.safety``, not of it).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu import DeterministicIntentClassifier
from careprep.safety import (
    SAFETY_KEY,
    SEVERITY,
    Concern,
    detect_all,
    intent_for,
    to_parse_data,
    versions,
)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SafetyIntentClassifier(DeterministicIntentClassifier):
    """Sets a ``safety_<level>`` intent from the safety netting and keeps every concern."""

    ruled_intents = tuple(intent_for(level) for level in SEVERITY)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> GraphComponent:
        """Load the safety nets with the model, before the server takes its first message.

        Loaded lazily instead, the first message after a start waited for them (seconds: a
        Twilio webhook gives up after 15).
        """
        versions()
        return super().load(config, model_storage, resource, execution_context, **kwargs)

    def decide(self, text: str | None) -> str | None:
        """Return the safety intent of the most urgent concern in the text."""
        return _intent(detect_all(text))

    def decide_message(self, message: Message) -> str | None:
        """Keep every concern found in the parse data; return the most urgent one's intent."""
        found = detect_all(message.get(TEXT))
        message.set(SAFETY_KEY, [to_parse_data(concern) for concern in found], add_to_output=True)
        return _intent(found)


def _intent(found: list[Concern]) -> str | None:
    return intent_for(found[0].level) if found else None
