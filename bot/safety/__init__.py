"""Safety netting: deterministic detection of emergencies and risk of harm.

Every patient message is checked with spaCy's Matcher on ``spacy.blank("en")``
against the versioned patterns in ``patterns.yml``, before anything else
happens to it. The trained NLU model never decides this on its own.

Pattern syntax (one phrase per line, words as spaCy norms, so "can't" is "can not"):
``a|b`` either word; ``word?`` optional; ``*`` up to three other words;
``/regex/`` a word matching a regular expression (``/^4[0-2]$/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from bot.safety.matching import Detector

PATTERNS_FILE = Path(__file__).with_name("patterns.yml")


class Level(str, Enum):
    """How urgent a concern is, most urgent first."""

    EMERGENCY = "emergency"
    MENTAL_HEALTH = "mental_health"
    URGENT = "urgent"


SEVERITY = (Level.EMERGENCY, Level.MENTAL_HEALTH, Level.URGENT)
INTENT_PREFIX = "safety_"


@dataclass(frozen=True)
class Concern:
    """A detected concern: its level and the words that raised it."""

    level: Level
    words: str


@lru_cache(maxsize=1)
def patterns() -> dict[str, Any]:
    """Return the shipped patterns (``patterns.yml``)."""
    loaded: dict[str, Any] = yaml.safe_load(PATTERNS_FILE.read_text())
    return loaded


@lru_cache(maxsize=1)
def detector() -> Detector:
    """Return the detector built from the shipped patterns (loads spaCy on first use)."""
    from bot.safety.matching import Detector

    return Detector(patterns())


def detect(text: str | None) -> Concern | None:
    """Return the most urgent concern a message raises, or None."""
    return detector().detect(text)


def intent_for(level: Level) -> str:
    """Return the NLU intent that carries a level ("safety_emergency")."""
    return INTENT_PREFIX + level.value


def level_of_intent(intent: str | None) -> Level | None:
    """Return the level an NLU intent carries, or None for any other intent."""
    if intent and intent.startswith(INTENT_PREFIX):
        return Level(intent[len(INTENT_PREFIX) :])
    return None
