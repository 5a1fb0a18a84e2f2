"""The safety evaluation corpus: red flags and everyday messages, split once by a fixed seed.

The messages in this folder were written by people who never saw the detector's
patterns, from clinical sources (NHS "when to call 999 / 111", NICE CKS red flags,
Samaritans, Zero Suicide Alliance, domestic abuse charities); each file names its
sources. Every message falls, by a hash of the seed and its text, into the
development half or the held-out half. The split of a message never changes when
others are added, so a message once held out stays held out.

Patterns and the classifier are written and trained on the development half only;
the held-out half is only ever counted (``python -m careprep.safety.evaluate``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path

from careprep import yamltext

CORPUS_DIR = Path(__file__).parent
SPLIT_SEED = "careprep-safety-2026-11-23"
NO_FLAG = "none"
LEGACY_PHRASES = CORPUS_DIR / "legacy_phrases.yml"
"""The phrases the version 1 patterns were written from: development half only."""


class Half(str, Enum):
    """Which half of the corpus a message belongs to."""

    DEVELOPMENT = "development"
    HELD_OUT = "heldout"
    UNSEEN = "unseen"
    """A new batch in ``unseen/``: not split yet, never read by a rule writer, counted whole."""


UNSEEN_DIR = CORPUS_DIR / "unseen"
"""A batch written blind and not yet added to the corpus: measured whole, before any tuning.

Once measured (``python -m careprep.safety.evaluate --unseen``) and its figures written
down, its files move into this folder's parent and into ``WRITTEN_FILES``, where the
fixed-seed split takes half of it for the development of the next rules."""


@dataclass(frozen=True)
class Example:
    """One message of the corpus: its text, the level it must raise (or "none") and topic."""

    text: str
    level: str
    topic: str
    source: str
    batch: int = 0

    @property
    def is_red_flag(self) -> bool:
        """Return True when the message must raise a concern."""
        return self.level != NO_FLAG


def half_of(text: str) -> Half:
    """Return the half a message falls in: a fixed-seed hash of its text."""
    digest = hashlib.sha256(f"{SPLIT_SEED}\n{text}".encode()).digest()
    return Half.HELD_OUT if digest[0] & 1 else Half.DEVELOPMENT


WRITTEN_FILES = {
    "emergency.yml": 1,
    "urgent.yml": 1,
    "mental_health_safeguarding.yml": 1,
    "everyday.yml": 1,
    "batch2_emergency_urgent.yml": 2,
    "batch2_mental_health_safeguarding.yml": 2,
    "batch2_everyday.yml": 2,
    "batch3_emergency.yml": 3,
    "batch3_urgent.yml": 3,
    "batch3_mental_health.yml": 3,
    "batch3_safeguarding_mixed.yml": 3,
    "batch3_everyday_hard.yml": 3,
    "batch3_everyday_answers.yml": 3,
    "batch4_emergency_urgent.yml": 4,
    "batch4_mental_health_safeguarding.yml": 4,
    "batch4_everyday.yml": 4,
    "batch5_emergency_urgent.yml": 5,
    "batch5_mental_health_safeguarding.yml": 5,
    "batch5_everyday_hard.yml": 5,
    "batch5_everyday_answers.yml": 5,
    "batch6_emergency_urgent.yml": 6,
    "batch6_mental_health_safeguarding.yml": 6,
    "batch6_everyday_hard.yml": 6,
    "batch6_everyday_answers.yml": 6,
    "batch7_emergency_urgent.yml": 7,
    "batch7_mental_health_safeguarding.yml": 7,
    "batch7_everyday_hard.yml": 7,
    "batch7_everyday_answers.yml": 7,
    "batch8_red_flags.yml": 8,
    "batch8_everyday.yml": 8,
    "batch8_told_red_flags.yml": 8,
    "batch8_told_everyday.yml": 8,
    "batch9_groups_red_flags.yml": 9,
    "batch9_groups_everyday.yml": 9,
    "batch9_pairs_red_flags.yml": 9,
    "batch9_pairs_everyday.yml": 9,
    "batch10_short_red_flags.yml": 10,
    "batch10_short_everyday.yml": 10,
    "batch10_long_red_flags.yml": 10,
    "batch10_long_everyday.yml": 10,
    "batch11_carers_red_flags.yml": 11,
    "batch11_carers_everyday.yml": 11,
    "batch12_stories_red_flags.yml": 12,
    "batch12_stories_everyday.yml": 12,
    "batch13_understated_red_flags.yml": 13,
    "batch13_understated_everyday.yml": 13,
    "batch14_indirect_red_flags.yml": 14,
    "batch14_indirect_everyday.yml": 14,
    "batch15_answers_red_flags.yml": 15,
    "batch15_answers_everyday.yml": 15,
    "batch16_plans_red_flags.yml": 16,
    "batch16_plans_everyday.yml": 16,
    "batch17_physical_red_flags.yml": 17,
    "batch17_physical_everyday.yml": 17,
    "batch17_psychosocial_red_flags.yml": 17,
    "batch17_psychosocial_everyday.yml": 17,
    "batch18_carers_red_flags.yml": 18,
    "batch18_carers_everyday.yml": 18,
    "batch18_dialect_red_flags.yml": 18,
    "batch18_dialect_everyday.yml": 18,
    "batch18_dictated_red_flags.yml": 18,
    "batch18_dictated_everyday.yml": 18,
    "batch18_medicines_red_flags.yml": 18,
    "batch18_medicines_everyday.yml": 18,
    "batch18_stoic_red_flags.yml": 18,
    "batch18_stoic_everyday.yml": 18,
    "batch19_young_red_flags.yml": 19,
    "batch19_young_everyday.yml": 19,
    "batch19_maternity_red_flags.yml": 19,
    "batch19_maternity_everyday.yml": 19,
    "batch19_baseline_red_flags.yml": 19,
    "batch19_baseline_everyday.yml": 19,
    "batch19_smi_red_flags.yml": 19,
    "batch19_smi_everyday.yml": 19,
    "batch19_alone_red_flags.yml": 19,
    "batch19_alone_everyday.yml": 19,
    "batch20_plain_red_flags.yml": 20,
    "batch20_plain_everyday.yml": 20,
    "batch20_communities_red_flags.yml": 20,
    "batch20_communities_everyday.yml": 20,
    "batch20_neuro_red_flags.yml": 20,
    "batch20_neuro_everyday.yml": 20,
    "batch20_followups_red_flags.yml": 20,
    "batch20_followups_everyday.yml": 20,
    "batch20_palliative_red_flags.yml": 20,
    "batch20_palliative_everyday.yml": 20,
    "batch21_renal_red_flags.yml": 21,
    "batch21_renal_everyday.yml": 21,
    "batch21_heartlung_red_flags.yml": 21,
    "batch21_heartlung_everyday.yml": 21,
    "batch21_addiction_red_flags.yml": 21,
    "batch21_addiction_everyday.yml": 21,
    "batch21_exploitation_red_flags.yml": 21,
    "batch21_exploitation_everyday.yml": 21,
    "batch21_questions_red_flags.yml": 21,
    "batch21_questions_everyday.yml": 21,
    "batch22_frailty_red_flags.yml": 22,
    "batch22_frailty_everyday.yml": 22,
    "batch22_neuro_red_flags.yml": 22,
    "batch22_neuro_everyday.yml": 22,
    "batch22_mood_red_flags.yml": 22,
    "batch22_mood_everyday.yml": 22,
    "batch22_family_red_flags.yml": 22,
    "batch22_family_everyday.yml": 22,
    "batch22_cancer_red_flags.yml": 22,
    "batch22_cancer_everyday.yml": 22,
    "batch23_acute_red_flags.yml": 23,
    "batch23_acute_everyday.yml": 23,
    "batch23_endocrine_red_flags.yml": 23,
    "batch23_endocrine_everyday.yml": 23,
    "batch23_ld_red_flags.yml": 23,
    "batch23_ld_everyday.yml": 23,
    "batch23_nights_red_flags.yml": 23,
    "batch23_nights_everyday.yml": 23,
    "batch23_relationships_red_flags.yml": 23,
    "batch23_relationships_everyday.yml": 23,
    "batch24_chronicpain_red_flags.yml": 24,
    "batch24_chronicpain_everyday.yml": 24,
    "batch24_men_red_flags.yml": 24,
    "batch24_men_everyday.yml": 24,
    "batch24_money_red_flags.yml": 24,
    "batch24_money_everyday.yml": 24,
    "batch24_parents_red_flags.yml": 24,
    "batch24_parents_everyday.yml": 24,
    "batch24_senses_red_flags.yml": 24,
    "batch24_senses_everyday.yml": 24,
    "batch25_devices_red_flags.yml": 25,
    "batch25_devices_everyday.yml": 25,
    "batch25_outdoors_red_flags.yml": 25,
    "batch25_outdoors_everyday.yml": 25,
    "batch25_rare_red_flags.yml": 25,
    "batch25_rare_everyday.yml": 25,
    "batch25_women_red_flags.yml": 25,
    "batch25_women_everyday.yml": 25,
    "batch25_work_red_flags.yml": 25,
    "batch25_work_everyday.yml": 25,
    "batch26_autistic_red_flags.yml": 26,
    "batch26_autistic_everyday.yml": 26,
    "batch26_discharge_red_flags.yml": 26,
    "batch26_discharge_everyday.yml": 26,
    "batch26_esl_red_flags.yml": 26,
    "batch26_esl_everyday.yml": 26,
    "batch26_mixed_red_flags.yml": 26,
    "batch26_mixed_everyday.yml": 26,
    "batch26_timeline_red_flags.yml": 26,
    "batch26_timeline_everyday.yml": 26,
    "batch27_humour_red_flags.yml": 27,
    "batch27_humour_everyday.yml": 27,
    "batch27_advice_red_flags.yml": 27,
    "batch27_advice_everyday.yml": 27,
    "batch27_careworkers_red_flags.yml": 27,
    "batch27_careworkers_everyday.yml": 27,
    "batch27_others_red_flags.yml": 27,
    "batch27_others_everyday.yml": 27,
    "batch27_numbers_red_flags.yml": 27,
    "batch27_numbers_everyday.yml": 27,
    "batch28_veterans_red_flags.yml": 28,
    "batch28_veterans_everyday.yml": 28,
    "batch28_rural_red_flags.yml": 28,
    "batch28_rural_everyday.yml": 28,
    "batch28_grief_red_flags.yml": 28,
    "batch28_grief_everyday.yml": 28,
    "batch28_fitness_red_flags.yml": 28,
    "batch28_fitness_everyday.yml": 28,
    "batch28_venting_red_flags.yml": 28,
    "batch28_venting_everyday.yml": 28,
}
"""Each file of messages and its batch; each batch was written by people new to the project."""


def _written_files() -> Iterable[tuple[Path, int]]:
    return [(CORPUS_DIR / name, batch) for name, batch in WRITTEN_FILES.items()]


@lru_cache(maxsize=1)
def written_examples() -> tuple[Example, ...]:
    """Return every message written for the corpus, both halves."""
    examples: list[Example] = []
    seen: set[str] = set()
    for path, batch in _written_files():
        for entry in yamltext.load(path.read_text())["messages"]:
            if entry["text"] not in seen:
                seen.add(entry["text"])
                examples.append(
                    Example(entry["text"], entry["level"], entry["topic"], path.stem, batch)
                )
    return tuple(examples)


@lru_cache(maxsize=1)
def legacy_examples() -> tuple[Example, ...]:
    """Return the version 1 phrase list, which the old patterns were written from."""
    loaded = yamltext.load(LEGACY_PHRASES.read_text())
    examples = [
        Example(text, level, "legacy", LEGACY_PHRASES.stem)
        for level, texts in loaded["triggers"].items()
        for text in texts
    ]
    examples += [
        Example(text, NO_FLAG, "legacy", LEGACY_PHRASES.stem) for text in loaded["everyday"]
    ]
    return tuple(examples)


def unseen_examples() -> tuple[Example, ...]:
    """Return the messages of the batch waiting in ``unseen/`` (none once it has moved)."""
    found: list[Example] = []
    for path in sorted(UNSEEN_DIR.glob("*.yml")):
        for entry in yamltext.load(path.read_text())["messages"]:
            found.append(Example(entry["text"], entry["level"], entry["topic"], path.stem))
    return tuple(found)


def examples(half: Half) -> tuple[Example, ...]:
    """Return one half of the corpus.

    The legacy phrases belong to the development half, and so does a written
    message that repeats one word for word: the rules have seen it.
    """
    if half is Half.UNSEEN:
        return unseen_examples()
    legacy = legacy_examples()
    seen = {example.text for example in legacy}
    chosen = tuple(
        example
        for example in written_examples()
        if half_of(example.text) is half and example.text not in seen
    )
    return chosen + legacy if half is Half.DEVELOPMENT else chosen
