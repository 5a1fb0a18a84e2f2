"""Safety netting: detection of emergencies and risk of harm in every patient message.

Two nets, in this order:

1. rules (``careprep.safety.matching``): deterministic and versioned, written over
   concepts in ``patterns/``; spelling correction, lemmas, and medspaCy's ConText
   for negation, history and hypotheticals;
2. a learned classifier (``careprep.safety.classifier``, a logistic regression over word and
   character n-grams, trained on the development half of the corpus by ``make train``)
   that may add a level the rules did not find, but never removes or lowers one.

The trained NLU model of the assistant never decides this on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from careprep.safety.classifier import SafetyClassifier
    from careprep.safety.matching import Detector

PATTERNS_DIR = Path(__file__).with_name("patterns")
logger = logging.getLogger(__name__)
T = TypeVar("T")


class Level(str, Enum):
    """What kind of help a concern needs."""

    EMERGENCY = "emergency"
    MENTAL_HEALTH = "mental_health"
    SAFEGUARDING = "safeguarding"
    URGENT = "urgent"


SEVERITY = (Level.EMERGENCY, Level.MENTAL_HEALTH, Level.SAFEGUARDING, Level.URGENT)
"""Most urgent first: the reply gives the signposting in this order."""
INTENT_PREFIX = "safety_"
SAFETY_KEY = "safety"
"""Where the NLU parse data carries every concern found, for the actions."""


@dataclass(frozen=True)
class Versions:
    """The versions of both nets, stored with every flag."""

    patterns: str
    classifier: str | None


@dataclass(frozen=True)
class Concern:
    """A detected concern: its level, the words that raised it and which net found it.

    ``versions`` are those of the nets that found it, in the process that found it (the Rasa
    server), so that a flag raised elsewhere (an action server) records them without loading
    the nets itself. Two concerns found by different versions are still the same concern.
    """

    level: Level
    words: str
    source: str = "rules"
    versions: Versions | None = field(default=None, compare=False)


def loaded_once(load: Callable[[], T]) -> Callable[[], T]:
    """Make ``load`` run once per process, however many threads ask for its result at once.

    The first call loads; a call made meanwhile waits for that load instead of starting its
    own. (``functools.lru_cache`` lets each of them load: four turns that reached a new
    action server together loaded the nets four times over, sharing the process, and took a
    minute.) A load that raises is tried again by the next call.
    """
    lock = threading.Lock()
    loaded: list[T] = []

    @wraps(load)
    def once() -> T:
        if not loaded:
            with lock:
                if not loaded:
                    loaded.append(load())
        return loaded[0]

    return once


@loaded_once
def detector() -> Detector:
    """Return the rule-based detector built from the shipped patterns (loads spaCy once)."""
    from careprep.safety.matching import Detector, load_patterns

    return Detector(load_patterns(PATTERNS_DIR))


@loaded_once
def trained_classifier() -> SafetyClassifier | None:
    """Return the trained classifier for the current corpus, or None if it is not trained."""
    from careprep.safety.classifier import load_current

    loaded = load_current()
    if loaded is None:
        logger.warning("The safety classifier is not trained: run `make train`. Rules only.")
    return loaded


def versions() -> Versions:
    """Return the versions of the rules and of the classifier in use."""
    second = trained_classifier()
    return Versions(detector().version, second.version if second else None)


def to_parse_data(concern: Concern) -> dict[str, str | None]:
    """Return a concern as the NLU parse data carries it to the actions (under ``SAFETY_KEY``)."""
    found_by = concern.versions
    return {
        "level": concern.level.value,
        "words": concern.words,
        "source": concern.source,
        "patterns": found_by.patterns if found_by else None,
        "classifier": found_by.classifier if found_by else None,
    }


def from_parse_data(entry: dict[str, Any], text: str) -> Concern | None:
    """Return the concern an entry of the parse data carries, or None if its level is unknown.

    The words default to the whole message and the net to the rules; the versions are kept
    only if the entry has them (an older Rasa server's entries do not).
    """
    levels = {level.value for level in SEVERITY}
    if entry.get("level") not in levels:
        return None
    patterns = entry.get("patterns")
    return Concern(
        Level(entry["level"]),
        entry.get("words") or text,
        entry.get("source") or "rules",
        Versions(str(patterns), entry.get("classifier")) if patterns else None,
    )


def combine(found: list[Concern], guess: Level | None, text: str) -> list[Concern]:
    """Add the classifier's guess to the rules' concerns when they did not find its level.

    The classifier can only add: nothing the rules found is removed or moved, and
    the concerns stay most urgent first, so a guess less urgent than what the rules
    found comes after it ("took all my tablets" found by the rules as an emergency
    keeps 999 first, and a mental-health guess adds Samaritans after it). An
    urgent guess beside an emergency adds nothing: 999 covers it.
    """
    levels = {concern.level for concern in found}
    if guess is None or guess in levels:
        return found
    if guess is Level.URGENT and Level.EMERGENCY in levels:
        return found
    added = [*found, Concern(guess, text, "classifier")]
    return sorted(added, key=lambda concern: SEVERITY.index(concern.level))


def detect_all(text: str | None) -> list[Concern]:
    """Return one concern per level the message raises, most urgent first (both nets)."""
    if not text or not text.strip():
        return []
    from careprep.safety.classifier import words_of

    doc = detector().normalise(text)
    found = detector().detect_in(doc)
    second = trained_classifier()
    guess = second.predict(words_of(doc), text) if second else None
    in_use = versions()
    return [replace(concern, versions=in_use) for concern in combine(found, guess, text)]


def detect(text: str | None) -> Concern | None:
    """Return the most urgent concern a message raises, or None."""
    found = detect_all(text)
    return found[0] if found else None


def intent_for(level: Level) -> str:
    """Return the NLU intent that carries a level ("safety_emergency")."""
    return INTENT_PREFIX + level.value


def level_of_intent(intent: str | None) -> Level | None:
    """Return the level an NLU intent carries, or None for any other intent."""
    if intent and intent.startswith(INTENT_PREFIX):
        return Level(intent[len(INTENT_PREFIX) :])
    return None
