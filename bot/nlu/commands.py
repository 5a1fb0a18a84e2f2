"""A Rasa NLU component that makes the global commands deterministic.

It runs after the trained intent classifier. A whole-message command phrase
("skip", "why do you ask?") always gets its command intent; a trained guess of
a command intent for anything else ("I want to stop feeling tired") becomes
``inform``, so a free-text answer is never taken for a command.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from bot.nlu import DeterministicIntentClassifier
from careprep.preparation.commands import COMMAND_INTENTS, parse_command


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CommandIntentClassifier(DeterministicIntentClassifier):
    """Sets command intents from the command phrase list, and only from it."""

    ruled_intents = COMMAND_INTENTS

    def decide(self, text: str | None) -> str | None:
        """Return the command intent of a whole-message command phrase."""
        command = parse_command(text)
        return command.intent if command else None
