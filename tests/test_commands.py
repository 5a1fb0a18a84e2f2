"""The global commands are recognised only as whole messages; answers stay answers."""

import pytest

from careprep.preparation.commands import BACK, HELP, PAUSE, SKIP, WHY, Command, parse_command


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("WHY", WHY),
        ("why?", WHY),
        ("Why do you ask?", WHY),
        ("why are you asking me this", WHY),
        ("SKIP", SKIP),
        ("skip this one", SKIP),
        ("I\u2019d rather not say", SKIP),
        ("BACK", BACK),
        ("go back", BACK),
        ("PAUSE", PAUSE),
        ("carry on later", PAUSE),
        ("Carry on later.", PAUSE),
        ("HELP", HELP),
        ("  help  ", HELP),
    ],
)
def test_command_phrases_are_commands(text: str, intent: str) -> None:
    command = parse_command(text)
    assert command is not None and command.intent == intent


@pytest.mark.parametrize(
    "text",
    [
        "I want to stop feeling tired",
        "no idea",
        "why bother",
        "why does my hip hurt so much",
        "I'd like to skip the small talk",
        "my back",
        "back pain",
        "help with my housework",
        "I'd like to pause less when walking",
        "later in the day is better for me",
        "change my hair colour",
        "",
        "   ",
    ],
)
def test_answers_are_not_commands(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("change my goals", "goals"),
        ("Change my goal", "goals"),
        ("go back to my goals", "goals"),
        ("edit the topics", "topics"),
        ("change my answer to what matters", "what_matters"),
        ("change my confidence score", "confidence"),
        ("update my worries", "not_going_well"),
    ],
)
def test_change_names_the_question(text: str, target: str) -> None:
    assert parse_command(text) == Command(BACK, target)


def test_plain_back_names_no_question() -> None:
    command = parse_command("back")
    assert command is not None and command.target is None
