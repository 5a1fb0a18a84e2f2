"""The second safety net: a spaCy text classifier trained on the development half.

It reads the same corrected, lemmatised words as the rules (``Normaliser``), so it
learns concepts rather than spellings. It may only add a level to what the rules
found (``careprep.safety.detect_all``). Training is reproducible: fixed seeds, a fixed
order of examples, and a version that is a digest of the training data, the
settings and the normaliser's rules, so ``make train`` retrains only when one of
them changes and every flag records which classifier was in use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spacy
import yaml
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example as SpacyExample
from spacy.util import fix_random_seed, minibatch

from careprep.safety import SEVERITY, Level
from careprep.safety.corpus import NO_FLAG, Half, examples

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "safety"
SEED = 2026
EPOCHS = 25
THRESHOLD = 0.7
"""The classifier adds a level only when it gives that level at least this probability."""
LABELS = (NO_FLAG, *(level.value for level in SEVERITY))
CONFIG: dict[str, Any] = {
    "textcat": {
        "model": {
            "@architectures": "spacy.TextCatBOW.v2",
            "exclusive_classes": True,
            "ngram_size": 2,
            "no_output_layer": False,
        }
    },
    "epochs": EPOCHS,
    "seed": SEED,
    "threshold": THRESHOLD,
}


@dataclass
class SafetyClassifier:
    """A trained classifier and its version."""

    nlp: Language
    version: str

    def probabilities(self, text: str) -> dict[str, float]:
        """Return the probability of each label for a message."""
        return self.probabilities_of(_features(text))

    def probabilities_of(self, features: str) -> dict[str, float]:
        """Return the probability of each label for a message's features (``words_of``)."""
        return dict(self.nlp(features).cats)

    def predict(self, features: str) -> Level | None:
        """Return the level the classifier is confident of, given a message's features."""
        cats = self.probabilities_of(features)
        label = max(cats, key=cats.__getitem__)
        if label == NO_FLAG or cats[label] < THRESHOLD:
            return None
        return Level(label)


def words_of(doc: Doc) -> str:
    """Return a normalised message as the classifier reads it: its corrected lemmas."""
    return " ".join(token.norm_ for token in doc)


def _features(text: str) -> str:
    from careprep.safety import detector

    return words_of(detector().normalise(text))


NLU_DATA = Path(__file__).resolve().parents[2] / "bot" / "data" / "nlu.yml"


def assistant_examples() -> list[tuple[str, str]]:
    """Return the assistant's own NLU examples: answers and commands are everyday messages.

    They teach the classifier that "I want to stop feeling tired" is an answer;
    the safety intents' examples are left out (the corpus covers them).
    """
    pairs = []
    for block in yaml.safe_load(NLU_DATA.read_text())["nlu"]:
        if block.get("intent", "").startswith("safety_"):
            continue
        for line in block.get("examples", "").splitlines():
            text = line.strip()[2:].strip()
            if text:
                pairs.append((text, NO_FLAG))
    return pairs


def training_examples() -> list[tuple[str, str]]:
    """Return (text, label) pairs: the development half and the assistant's examples, sorted."""
    pairs = {(example.text, example.level) for example in examples(Half.DEVELOPMENT)}
    return sorted(pairs | set(assistant_examples()))


def current_version() -> str:
    """Return the version the classifier would have if trained now."""
    from careprep.safety import detector

    digest = hashlib.sha256()
    digest.update(json.dumps(CONFIG, sort_keys=True).encode())
    digest.update(detector().version.encode())
    for text, label in training_examples():
        digest.update(f"{label}\t{text}\n".encode())
    return f"textcat-{digest.hexdigest()[:12]}"


def _blank() -> Language:
    nlp = spacy.blank("en")
    textcat = nlp.add_pipe("textcat", config=CONFIG["textcat"])
    for label in LABELS:
        textcat.add_label(label)  # type: ignore[attr-defined]
    return nlp


def train(pairs: list[tuple[str, str]], version: str) -> SafetyClassifier:
    """Train a classifier on (text, label) pairs, reproducibly."""
    fix_random_seed(SEED)
    nlp = _blank()
    data = [
        SpacyExample.from_dict(
            nlp.make_doc(_features(text)),
            {"cats": {label: float(label == gold) for label in LABELS}},
        )
        for text, gold in pairs
    ]
    optimizer = nlp.initialize(lambda: data)
    shuffle = random.Random(SEED)
    for _ in range(EPOCHS):
        shuffle.shuffle(data)
        for batch in minibatch(data, size=16):
            nlp.update(batch, sgd=optimizer, drop=0.2)
    return SafetyClassifier(nlp, version)


def model_dir(version: str) -> Path:
    """Return where a classifier version is kept."""
    return MODELS_DIR / version


def train_if_needed() -> Path:
    """Train and save the classifier unless the current version is already on disk."""
    version = current_version()
    path = model_dir(version)
    if not (path / "meta.json").exists():
        logger.info("Training the safety classifier %s", version)
        classifier = train(training_examples(), version)
        path.parent.mkdir(parents=True, exist_ok=True)
        classifier.nlp.to_disk(path)
    return path


def load_current() -> SafetyClassifier | None:
    """Return the classifier for the current corpus and rules, or None if not trained."""
    version = current_version()
    path = model_dir(version)
    if not (path / "meta.json").exists():
        return None
    return SafetyClassifier(spacy.load(path), version)
