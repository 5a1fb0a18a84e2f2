"""Held-out red flags for the conversation tests, and what their first reply must say."""

from __future__ import annotations

import random

from careprep.safety import Level, detect_all
from careprep.safety.corpus import Example, Half, examples

SIGNPOSTS = {
    Level.EMERGENCY: ("call 999 now",),
    Level.MENTAL_HEALTH: ("999", "option 2", "116 123"),
    Level.SAFEGUARDING: ("999", "0808 2000 247"),
    Level.URGENT: ("111.nhs.uk", "NHS 111"),
}
SAMPLE_SEED = 20261123


def carries_signposting(reply: str, level: Level) -> bool:
    """Return True when a reply gives the help a level needs (999 also answers an urgent one)."""
    if level is Level.URGENT and all(words in reply for words in SIGNPOSTS[Level.EMERGENCY]):
        return True
    return all(words in reply for words in SIGNPOSTS[level])


def expected_level(text: str) -> Level | None:
    """Return the most urgent level the safety netting finds in a message, if any.

    The conversation tests check that every channel and state gives the reply the
    netting decides; how often it decides right is measured on the whole held-out
    half by ``tests/test_safety.py``.
    """
    found = detect_all(text)
    return found[0].level if found else None


def held_out_red_flags(per_level: int, salt: str = "") -> list[Example]:
    """Return a fixed sample of held-out red flags, ``per_level`` of each level, mixed."""
    chooser = random.Random(f"{SAMPLE_SEED}{salt}")
    sample: list[Example] = []
    for level in Level:
        pool = sorted(
            (e for e in examples(Half.HELD_OUT) if e.level == level.value), key=lambda e: e.text
        )
        sample += chooser.sample(pool, per_level)
    chooser.shuffle(sample)
    return sample
