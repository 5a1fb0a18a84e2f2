"""A Rasa NLU component that runs the safety detector on every message.

It runs last. When ``bot.safety`` finds a concern the message gets the
``safety_<level>`` intent whatever else was predicted (a concern outranks a
command); a trained guess of a safety intent without a detected concern is
turned back into ``inform``, so the deterministic check alone decides.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from bot.nlu import DeterministicIntentClassifier
from bot.safety import SEVERITY, detect, intent_for


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SafetyIntentClassifier(DeterministicIntentClassifier):
    """Sets a ``safety_<level>`` intent from the deterministic detector."""

    ruled_intents = tuple(intent_for(level) for level in SEVERITY)

    def decide(self, text: str | None) -> str | None:
        """Return the safety intent of the most urgent concern in the text."""
        concern = detect(text)
        return intent_for(concern.level) if concern else None
