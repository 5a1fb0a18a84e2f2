"""Our NLU components: commands and safety are decided by fixed rules, not by the model."""

from __future__ import annotations

from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.commands import CommandIntentClassifier
from bot.nlu.safety import SafetyIntentClassifier
from careprep.safety import versions


def classify(text: str, predicted: str) -> str:
    """Run both components, in the pipeline's order, after a model predicted ``predicted``."""
    message = Message(data={TEXT: text, INTENT: {"name": predicted, "confidence": 0.9}})
    for component in (CommandIntentClassifier(), SafetyIntentClassifier()):
        component.process([message])
    return str(message.get(INTENT)["name"])


def test_a_command_phrase_gets_its_command_whatever_the_model_said() -> None:
    assert classify("why do you ask?", "inform") == "ask_why"
    assert classify("SKIP", "greet") == "skip"


def test_the_model_alone_cannot_make_a_command() -> None:
    assert classify("I want to stop feeling tired", "pause") == "inform"
    assert classify("why bother", "ask_why") == "inform"


def test_a_concern_outranks_commands_and_answers() -> None:
    assert classify("help I can't breathe", "help") == "safety_emergency"
    assert classify("My goal: not to be here by Christmas", "inform") == "safety_mental_health"


def test_the_model_alone_cannot_raise_a_concern() -> None:
    assert classify("my chest of drawers is broken", "safety_emergency") == "inform"


def test_every_concern_in_a_message_reaches_the_actions_most_urgent_first() -> None:
    message = Message(data={TEXT: "took all my pills an hour ago, I want to die"})
    SafetyIntentClassifier().process([message])
    assert message.get(INTENT)["name"] == "safety_emergency"
    levels = [concern["level"] for concern in message.get("safety")]
    assert levels[0] == "emergency" and "mental_health" in levels
    assert "safety" in message.as_dict(only_output_properties=True)


def test_each_concern_carries_the_versions_of_the_nets_that_found_it() -> None:
    message = Message(data={TEXT: "took all my pills an hour ago, I want to die"})
    SafetyIntentClassifier().process([message])
    in_use = versions()
    assert in_use.patterns and in_use.classifier
    assert {(c["patterns"], c["classifier"]) for c in message.get("safety")} == {
        (in_use.patterns, in_use.classifier)
    }
