"""The second safety net: a linear text classifier trained on the development half.

A logistic regression (scikit-learn) over two kinds of features:

* word 1-2-grams of the same corrected, lemmatised words the rules read
  (``words_of(detector().normalise(text))``), so it learns concepts rather than
  spellings;
* character 2-5-grams (within word boundaries) of the message as written, lower
  case, so it still sees a word it was never trained on through its parts
  ("breathlessnes", "overdosing", "self-harming").

Everyday messages weigh three times as much as red flags in training: chosen by
leave-one-batch-out cross-validation on the development half (train on the other
writers' batches, test on one), where it caught about 9 points more of a new writer's
red flags than the spaCy ``textcat`` at the same false-alarm rate (most on safeguarding,
least on mental health). It may only add a level to
what the rules found (``careprep.safety.detect_all``). Training is reproducible: a
fixed order of examples and a deterministic solver, and a version that is a digest
of the training data, the settings (with scikit-learn's version) and the
normaliser's rules and code, so ``make train`` retrains only when one of them changes and
every flag records which classifier was in use.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from spacy.tokens import Doc

from careprep import yamltext
from careprep.safety import SEVERITY, Level, matching
from careprep.safety.corpus import NO_FLAG, Half, examples

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "safety"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
SEED = 2026
THRESHOLD = 0.65
"""The classifier adds a level when the levels together are at least this probable.

That is when the message is more likely a red flag than not by this margin (1 minus
the probability of "none"); the level added is the most probable one. Until
2026-12-07 it added a level only when that level alone was the most probable label
with at least 0.53 (and ``C`` was 10). In leave-one-batch-out cross-validation on the
development half (five folds of whole batches, classifier alone), the sum at 0.65
with ``C`` 30 caught 228 more of 7,380 red flags than that for 27 more false alarms
in 7,125 everyday messages; 0.65 is where lowering the bar further stops gaining 3 red
flags per false alarm (0.6: 54 more for 25 more). Measured on the held-out half only
afterwards (docs/clinical-safety.md). A lower bar for safeguarding alone, tried
earlier, is superseded: the sum raises a message whose probability is shared between
safeguarding and mental health, which each alone missed."""
NONE_WEIGHT = 3.0
"""How much an everyday message weighs in training against a red flag."""
LEVELS = tuple(level.value for level in SEVERITY)
LABELS = (NO_FLAG, *LEVELS)
CONFIG: dict[str, Any] = {
    "model": "logistic-regression",
    "words": {"ngram_range": [1, 2], "token_pattern": r"(?u)\b\w+\b", "min_df": 1},
    "chars": {"analyzer": "char_wb", "ngram_range": [2, 5], "min_df": 2},
    "sublinear_tf": True,
    "C": 30.0,
    "none_weight": NONE_WEIGHT,
    "threshold": THRESHOLD,
    "decision": "levels-together",
    "seed": SEED,
    "scikit-learn": sklearn.__version__,
}


@dataclass
class SafetyClassifier:
    """A trained classifier and its version."""

    words: Any
    chars: Any
    model: Any
    version: str

    def probabilities(self, text: str) -> dict[str, float]:
        """Return the probability of each label for a message."""
        return self.probabilities_of(_features(text), text)

    def probabilities_of(self, features: str, text: str) -> dict[str, float]:
        """Return the probability of each label, given a message's features (``words_of``).

        ``text`` is the message as written: its characters are the second kind of features.
        """
        row = hstack([self.words.transform([features]), self.chars.transform([_written(text)])])
        found = self.model.predict_proba(row.tocsr())[0]
        probabilities = dict.fromkeys(LABELS, 0.0)
        for index, probability in zip(self.model.classes_, found, strict=True):
            probabilities[LABELS[int(index)]] = float(probability)
        return probabilities

    def predict(self, features: str, text: str) -> Level | None:
        """Return the level the classifier adds, given a message's features and text.

        None unless the levels together reach ``THRESHOLD``; then the most probable level.
        """
        probabilities = self.probabilities_of(features, text)
        if 1.0 - probabilities[NO_FLAG] < THRESHOLD:
            return None
        return Level(max(LEVELS, key=probabilities.__getitem__))


def words_of(doc: Doc) -> str:
    """Return a normalised message as the classifier reads it: its corrected lemmas."""
    return " ".join(token.norm_ for token in doc)


def _features(text: str) -> str:
    from careprep.safety import detector

    return words_of(detector().normalise(text))


def _written(text: str) -> str:
    """Return a message as written, in lower case with straight apostrophes (as the rules)."""
    return text.replace("\u2019", "'").replace("\u2018", "'").lower()


NLU_DATA = Path(__file__).resolve().parents[2] / "bot" / "data" / "nlu.yml"


def assistant_examples() -> list[tuple[str, str]]:
    """Return the assistant's own NLU examples: answers and commands are everyday messages.

    They teach the classifier that "I want to stop feeling tired" is an answer;
    the safety intents' examples are left out (the corpus covers them).
    """
    pairs = []
    for block in yamltext.load(NLU_DATA.read_text())["nlu"]:
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
    # the normaliser's code too: it makes the words the classifier reads
    digest.update(Path(matching.__file__).read_bytes())
    for text, label in training_examples():
        digest.update(f"{label}\t{text}\n".encode())
    return f"linear-{digest.hexdigest()[:12]}"


def _vectorizers() -> tuple[TfidfVectorizer, TfidfVectorizer]:
    words = CONFIG["words"]
    chars = CONFIG["chars"]
    return (
        TfidfVectorizer(
            analyzer="word",
            ngram_range=tuple(words["ngram_range"]),
            token_pattern=words["token_pattern"],
            min_df=words["min_df"],
            sublinear_tf=CONFIG["sublinear_tf"],
            dtype=np.float64,
        ),
        TfidfVectorizer(
            analyzer=chars["analyzer"],
            ngram_range=tuple(chars["ngram_range"]),
            min_df=chars["min_df"],
            sublinear_tf=CONFIG["sublinear_tf"],
            dtype=np.float64,
        ),
    )


def train(pairs: list[tuple[str, str]], version: str) -> SafetyClassifier:
    """Train a classifier on (text, label) pairs, reproducibly."""
    words, chars = _vectorizers()
    features = [_features(text) for text, _ in pairs]
    written = [_written(text) for text, _ in pairs]
    matrix = hstack([words.fit_transform(features), chars.fit_transform(written)]).tocsr()
    labels = np.array([LABELS.index(label) for _, label in pairs])
    weights = np.where(labels == LABELS.index(NO_FLAG), CONFIG["none_weight"], 1.0)
    model = LogisticRegression(
        C=CONFIG["C"], solver="lbfgs", max_iter=5000, random_state=CONFIG["seed"]
    )
    model.fit(matrix, labels, sample_weight=weights)
    return SafetyClassifier(words, chars, model, version)


def model_dir(version: str) -> Path:
    """Return where a classifier version is kept."""
    return MODELS_DIR / version


def save(classifier: SafetyClassifier, path: Path) -> None:
    """Write a classifier to a folder; ``meta.json``, written last, says it is complete."""
    path.mkdir(parents=True, exist_ok=True)
    parts = {"words": classifier.words, "chars": classifier.chars, "model": classifier.model}
    joblib.dump(parts, path / MODEL_FILE)
    meta = {"version": classifier.version, "labels": list(LABELS), "config": CONFIG}
    (path / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))


def train_if_needed() -> Path:
    """Train and save the classifier unless the current version is already on disk."""
    version = current_version()
    path = model_dir(version)
    if not (path / META_FILE).exists():
        logger.info("Training the safety classifier %s", version)
        save(train(training_examples(), version), path)
    return path


def load_current() -> SafetyClassifier | None:
    """Return the classifier for the current corpus and rules, or None if not trained."""
    version = current_version()
    path = model_dir(version)
    if not (path / META_FILE).exists():
        return None
    parts = joblib.load(path / MODEL_FILE)
    return SafetyClassifier(parts["words"], parts["chars"], parts["model"], version)
