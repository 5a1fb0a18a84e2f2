"""Safety netting: the deterministic detector on phrase lists, and the data held to it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.safety import SEVERITY, Level, detect, intent_for, level_of_intent, patterns
from bot.safety.matching import compile_pattern

ROOT = Path(__file__).resolve().parents[1]
PHRASES = yaml.safe_load((ROOT / "tests/safety_phrases.yml").read_text())
TRIGGERS = [(Level(level), text) for level, texts in PHRASES["triggers"].items() for text in texts]
EVERYDAY: list[str] = PHRASES["everyday"]
MAX_FALSE_ALARM_RATE = 0.02


def test_the_lists_are_big_enough() -> None:
    assert len(TRIGGERS) >= 150
    assert len(EVERYDAY) >= 150
    assert {level for level, _ in TRIGGERS} == set(SEVERITY)


@pytest.mark.parametrize(("level", "text"), TRIGGERS, ids=[text[:40] for _, text in TRIGGERS])
def test_every_trigger_phrase_raises_its_level(level: Level, text: str) -> None:
    concern = detect(text)
    assert concern is not None, text
    assert concern.level == level, (text, concern)


def test_false_alarms_on_everyday_phrases_stay_under_2_percent() -> None:
    alarms = [(text, detect(text)) for text in EVERYDAY if detect(text) is not None]
    assert len(alarms) / len(EVERYDAY) <= MAX_FALSE_ALARM_RATE, alarms


@pytest.mark.parametrize(
    "text",
    [
        "I'm dying to see my grandchildren",
        "my chest of drawers",
        "the pain of filling in forms",
        "I want to stop feeling tired",
        "no chest pain since the new tablets",
        "I'm not suicidal, just fed up",
        "I had a fall two years ago",
    ],
)
def test_the_design_examples_do_not_trip_it(text: str) -> None:
    assert detect(text) is None


@pytest.mark.parametrize(
    ("text", "level"),
    [
        (
            "What matters: my family, but honestly some days I think about ending my life",
            Level.MENTAL_HEALTH,
        ),
        ("my garden. also chest pian since last night", Level.EMERGENCY),
        ("I took an overdose and I can't breathe", Level.EMERGENCY),
        ("no fever, but I can't breathe", Level.EMERGENCY),
    ],
)
def test_a_concern_inside_a_longer_answer_is_found_at_the_most_urgent_level(
    text: str, level: Level
) -> None:
    concern = detect(text)
    assert concern is not None and concern.level == level


def test_nlu_examples_agree_with_the_detector() -> None:
    nlu = yaml.safe_load((ROOT / "bot/data/nlu.yml").read_text())["nlu"]
    for block in nlu:
        level = level_of_intent(block["intent"])
        for line in block["examples"].splitlines():
            example = line.strip()[2:]
            if not example:
                continue
            concern = detect(example)
            if level is None:
                assert concern is None, (block["intent"], example)
            else:
                assert concern is not None and concern.level == level, example


def test_intents_carry_their_level() -> None:
    for level in SEVERITY:
        assert level_of_intent(intent_for(level)) is level
    assert level_of_intent("inform") is None


def test_patterns_are_versioned_and_compile() -> None:
    shipped = patterns()
    assert isinstance(shipped["version"], int)
    for level in SEVERITY:
        for line in shipped["levels"][level.value]:
            assert compile_pattern(line), line
    assert compile_pattern("a|b c? * /^4[0-2]$/") == [
        {"NORM": {"IN": ["a", "b"]}},
        {"NORM": "c", "OP": "?"},
        {"OP": "?"},
        {"OP": "?"},
        {"OP": "?"},
        {"NORM": {"REGEX": "^4[0-2]$"}},
    ]
