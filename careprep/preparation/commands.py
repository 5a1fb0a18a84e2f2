"""Deterministic recognition of the global commands (WHY, SKIP, BACK, PAUSE, HELP, SUMMARY).

A message is a command only when the whole message is one of the phrases
below. Anything longer is an answer, so "I want to stop feeling tired",
"no idea" and "why bother" are kept as the patient wrote them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from careprep.preparation.questionnaire import PREPARE, Questionnaire

WHY = "ask_why"
SKIP = "skip"
BACK = "go_back"
PAUSE = "pause"
HELP = "help"
SUMMARY = "summary"

COMMAND_INTENTS: tuple[str, ...] = (WHY, SKIP, BACK, PAUSE, HELP, SUMMARY)

PHRASES: dict[str, tuple[str, ...]] = {
    WHY: (
        "why",
        "why do you ask",
        "why are you asking",
        "why are you asking me",
        "why are you asking me this",
        "why are you asking that",
        "why do you want to know",
        "why do you need to know",
        "why do you need this",
        "why is that",
        "why this question",
        "why ask",
        "why ask that",
        "what is this for",
        "whats this for",
        "what's this for",
        "what for",
    ),
    SKIP: (
        "skip",
        "skip it",
        "skip this",
        "skip this one",
        "skip that",
        "skip question",
        "skip this question",
        "pass",
        "next",
        "next question",
        "rather not say",
        "id rather not say",
        "i'd rather not say",
        "i would rather not say",
        "prefer not to say",
        "i prefer not to say",
        "i'd prefer not to say",
    ),
    BACK: (
        "back",
        "go back",
        "go back please",
        "back please",
        "previous",
        "previous question",
        "last question",
        "undo",
        "change my answer",
        "change that",
        "change my last answer",
    ),
    PAUSE: (
        "pause",
        "carry on later",
        "continue later",
        "finish later",
        "do it later",
        "do this later",
        "later",
        "not now",
        "stop for now",
        "pause for now",
        "ill carry on later",
        "i'll carry on later",
        "i will carry on later",
        "ill finish later",
        "i'll finish later",
        "i will finish later",
        "can i carry on later",
        "can i finish later",
        "take a break",
    ),
    HELP: (
        "help",
        "help me",
        "help please",
        "info",
        "what can i say",
        "what can i do",
        "commands",
        "i need help",
        "how does this work",
    ),
    SUMMARY: (
        "summary",
        "my summary",
        "summary please",
        "send summary",
        "send my summary",
        "send me my summary",
        "send me a summary",
        "my answers",
        "send my answers",
        "send me my answers",
        "show my answers",
        "show me my answers",
        "a copy of my answers",
        "copy of my answers",
        "what have i said so far",
    ),
}

_CHANGE = re.compile(
    r"^(?:change|edit|redo|update|fix|correct|go back to|back to)\s+"
    r"(?:(?:my|the)\s+)?(?:answer\s+(?:to|about|for)\s+)?(?:(?:my|the)\s+)?"
    r"(?P<target>.+?)(?:\s+(?:answer|answers|question|part|bit|section|one|score))?$"
)


@dataclass(frozen=True)
class Command:
    """A recognised command and, for BACK, the question it names."""

    intent: str
    target: str | None = None


def normalise(text: str) -> str:
    """Fold a message to lower case, plain quotes and single spaces, without end punctuation."""
    folded = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    folded = re.sub(r"\s+", " ", folded.lower()).strip()
    return folded.strip(" .!?,")


_LOOKUP: dict[str, str] = {
    phrase: intent for intent, phrases in PHRASES.items() for phrase in phrases
}


def parse_command(text: str | None, questionnaire: Questionnaire = PREPARE) -> Command | None:
    """Return the command a whole message asks for, or None when it is an answer.

    "change my goals" names a question of ``questionnaire`` by one of its aliases.
    """
    if not text:
        return None
    folded = normalise(text)
    if folded in _LOOKUP:
        return Command(_LOOKUP[folded])
    change = _CHANGE.match(folded)
    if change:
        named = questionnaire.find_by_alias(change.group("target"))
        if named is not None:
            return Command(BACK, named.id)
    return None
