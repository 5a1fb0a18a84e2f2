"""A Rasa NLU component that runs the safety detector on every message.

It runs last. When ``bot.safety`` finds a concern the message gets the
``safety_<level>`` intent whatever else was predicted (a concern outranks a
command); a trained guess of a safety intent without a detected concern is
turned back into ``inform``, so the deterministic check alone decides.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu import ANSWER_INTENT, predicted_intent, set_intent
from bot.safety import SEVERITY, detect

SAFETY_INTENTS = tuple(f"safety_{level.value}" for level in SEVERITY)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SafetyIntentClassifier(GraphComponent, IntentClassifier):
    """Sets a ``safety_<level>`` intent from the deterministic detector."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyIntentClassifier:
        """Create the component (the patterns ship with the code, nothing is trained)."""
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Give a message with a concern its safety intent."""
        for message in messages:
            concern = detect(message.get(TEXT))
            if concern is not None:
                set_intent(message, f"safety_{concern.level.value}")
            elif predicted_intent(message) in SAFETY_INTENTS:
                set_intent(message, ANSWER_INTENT)
        return messages
