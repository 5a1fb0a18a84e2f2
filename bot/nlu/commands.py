"""A Rasa NLU component that makes the global commands deterministic.

It runs after the trained intent classifier. A whole-message command phrase
("skip", "why do you ask?") always gets its command intent; a trained guess of
a command intent for anything else ("I want to stop feeling tired") becomes
``inform``, so a free-text answer is never taken for a command.
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

from bot.commands import COMMAND_INTENTS, parse_command
from bot.nlu import ANSWER_INTENT, predicted_intent, set_intent


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CommandIntentClassifier(GraphComponent, IntentClassifier):
    """Sets command intents from the command phrase list, and only from it."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CommandIntentClassifier:
        """Create the component (it has nothing to train or load)."""
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Override the trained intent where the command list decides otherwise."""
        for message in messages:
            command = parse_command(message.get(TEXT))
            if command is not None:
                set_intent(message, command.intent)
            elif predicted_intent(message) in COMMAND_INTENTS:
                set_intent(message, ANSWER_INTENT)
        return messages
