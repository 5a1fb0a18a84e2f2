"""The rule-based detector behind ``bot.safety.detect`` (see ``patterns/`` for the rules).

A message goes through four steps, each from a library built for it:

1. text-speak is rewritten ("cnt" -> "can't") and each unknown word that is one or
   two edits from a word of the safety vocabulary is corrected to it (symspellpy,
   restricted to that vocabulary; words of its English dictionary are left alone);
2. every word is reduced to its lemma (spaCy's lookup lemmatizer, from
   ``spacy-lookups-data``), so "collapsed", "collapsing" and "collapse" are one word;
3. the rules, written over concepts ("LOSE_CONSCIOUSNESS", "SELF ~3 HARM") rather than
   phrases, are compiled into one spaCy ``Matcher``;
4. each finding is checked by medspaCy's ConText for negation, history and
   hypotheticals ("no chest pain", "a fall two years ago", "what if I collapse"). A
   finding that ConText marks is dropped; uncertainty and family members are never a
   reason to drop one ("I think he's had a stroke", "my husband collapsed").
"""

from __future__ import annotations

import hashlib
import importlib.resources
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spacy
import yaml
from medspacy.context import ConText, ConTextRule
from medspacy.context.context import DEFAULT_RULES_FILEPATH
from spacy.lookups import Table
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span
from symspellpy import SymSpell, Verbosity

from bot.safety import SEVERITY, Concern, Level

SPAN_GROUP = "safety"
SENTENCE_END = [".", "!", "?", ";"]
MAX_VARIANTS = 5000
CONTEXT_CATEGORIES = {
    "NEGATED_EXISTENCE": "is_negated",
    "HISTORICAL": "is_historical",
    "HYPOTHETICAL": "is_hypothetical",
}
"""The ConText categories that drop a finding; POSSIBLE_EXISTENCE and FAMILY never do."""


@dataclass(frozen=True)
class Patterns:
    """One version of the rules: every file of ``patterns/`` merged."""

    version: str
    rewrite: dict[str, str]
    concepts: dict[str, list[str]]
    levels: dict[str, list[str]]
    exclusions: list[str]
    context: dict[str, Any]


def load_patterns(folder: Path) -> Patterns:
    """Read and merge the pattern files of a folder; the version carries a digest of them."""
    files = sorted(folder.glob("*.yml"))
    digest = hashlib.sha256()
    rewrite: dict[str, str] = {}
    concepts: dict[str, list[str]] = {}
    levels: dict[str, list[str]] = {level.value: [] for level in SEVERITY}
    exclusions: list[str] = []
    context: dict[str, Any] = {}
    version = None
    for path in files:
        text = path.read_text()
        digest.update(path.name.encode() + b"\n" + text.encode())
        loaded = yaml.safe_load(text) or {}
        version = loaded.get("version", version)
        rewrite.update(loaded.get("rewrite") or {})
        for name, words in (loaded.get("concepts") or {}).items():
            if name in concepts:
                raise ValueError(f"concept {name} is defined twice ({path.name})")
            concepts[name] = [str(word) for word in words]
        for level, rules in (loaded.get("levels") or {}).items():
            levels[Level(level).value].extend(str(rule) for rule in rules)
        exclusions.extend(str(rule) for rule in loaded.get("exclusions") or [])
        context.update(loaded.get("context") or {})
    if version is None:
        raise ValueError(f"no pattern file in {folder} gives a version")
    return Patterns(
        f"{version}+{digest.hexdigest()[:8]}", rewrite, concepts, levels, exclusions, context
    )


class Normaliser:
    """Turns a message into a Doc of corrected, lemmatised words (``token.norm_`` is the key)."""

    def __init__(self, patterns: Patterns) -> None:
        """Load the tokenizer, the lemma table and the spelling corrector."""
        self.nlp = spacy.blank("en")
        self.nlp.add_pipe("sentencizer")
        lemmatizer = self.nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        self.nlp.initialize()
        self.lemmas: Table = lemmatizer.lookups.get_table("lemma_lookup")  # type: ignore[attr-defined]
        self.rewrites = [
            (re.compile(rf"(?<![\w']){pattern}(?![\w'])", re.IGNORECASE), replacement)
            for pattern, replacement in patterns.rewrite.items()
        ]
        self.english = _english_words()
        self.vocabulary = self._vocabulary(patterns)
        self.speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word in self.vocabulary:
            if len(word) >= 4:
                self.speller.create_dictionary_entry(word, 1)

    def key(self, word: str) -> str:
        """Return the word the rules match: the lemma of its lower-case form."""
        word = word.lower()
        return str(self.lemmas.get(word, word))

    def _vocabulary(self, patterns: Patterns) -> set[str]:
        words = {
            part
            for phrases in [*patterns.concepts.values(), *patterns.levels.values()]
            for phrase in phrases
            for option in phrase.split()
            for part in option.rstrip("?").split("|")
            if part.isalpha() and part.islower()
        }
        lemmas = {self.key(word) for word in words}
        inflected = {form for form, lemma in self.lemmas.items() if lemma in lemmas}
        return words | lemmas | {str(form) for form in inflected if str(form).isalpha()}

    def correct(self, word: str) -> str:
        """Return a misspelt safety word corrected ("pian" -> "pain"); other words as they are."""
        if len(word) < 4 or not word.isalpha() or word in self.english or word in self.vocabulary:
            return word
        distance = 1 if len(word) < 6 else 2
        suggestions = self.speller.lookup(word, Verbosity.TOP, max_edit_distance=distance)
        return suggestions[0].term if suggestions else word

    def __call__(self, text: str) -> Doc:
        """Return the message as a Doc whose token norms are the keys the rules match."""
        text = text.replace("\u2019", "'").replace("\u2018", "'").lower()
        for pattern, replacement in self.rewrites:
            text = pattern.sub(replacement, text)
        tokens = self.nlp.tokenizer(text)
        words = [self.correct(token.text) for token in tokens]
        doc = Doc(self.nlp.vocab, words=words, spaces=[bool(t.whitespace_) for t in tokens])
        doc = self.nlp.get_pipe("sentencizer")(doc)
        for token, original in zip(doc, tokens, strict=True):
            exception = original.norm_ != original.lower_
            token.norm_ = self.key(original.norm_ if exception else token.text)
        return doc


def _english_words() -> frozenset[str]:
    dictionary = importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    return frozenset(line.split()[0] for line in dictionary.read_text().splitlines() if line)


class RuleCompiler:
    """Compiles rule lines into spaCy Matcher patterns.

    Syntax of a rule line (words are lemmas, lower case): ``a|b`` one of these words;
    ``CONCEPT`` any phrase of a concept; ``x?`` optional; ``~N`` up to N other words
    in the same sentence; ``*`` is ``~3``; ``/regex/`` a word matching it.
    """

    def __init__(self, concepts: dict[str, list[str]], key: Any) -> None:
        """Keep the concepts and the function that turns a word into its key."""
        self.concepts = concepts
        self.key = key

    def _words(self, option: str) -> list[str]:
        return sorted({self.key(word) for word in option.split("|")})

    def _element(
        self, part: str, seen: tuple[str, ...] = ()
    ) -> tuple[list[list[dict[str, Any]]], bool]:
        """Return the alternatives (each a token list) of one part, and whether it is optional."""
        optional = part.endswith("?") and len(part) > 1
        part = part.rstrip("?") if optional else part
        if part == "*":
            part = "~3"
        if re.fullmatch(r"~\d+", part):
            gap = {"NORM": {"NOT_IN": SENTENCE_END}, "OP": "?"}
            return [[gap] * int(part[1:])], False
        if len(part) > 2 and part.startswith("/") and part.endswith("/"):
            return [[{"NORM": {"REGEX": part[1:-1]}}]], optional
        if part.isupper() and part.replace("_", "").isalpha():
            if part not in self.concepts:
                raise ValueError(f"unknown concept {part}")
            if part in seen:
                raise ValueError(f"concept {part} refers to itself")
            return self._concept(part, (*seen, part)), optional
        return [[{"NORM": {"IN": self._words(part)}}]], optional

    def _concept(self, name: str, seen: tuple[str, ...]) -> list[list[dict[str, Any]]]:
        single: set[str] = set()
        alternatives: list[list[dict[str, Any]]] = []
        for phrase in self.concepts[name]:
            parts = phrase.split()
            if len(parts) == 1 and not parts[0].isupper() and "?" not in parts[0]:
                single.update(self._words(parts[0]))
            else:
                alternatives.extend(self._sequence(parts, seen))
        if single:
            alternatives.insert(0, [{"NORM": {"IN": sorted(single)}}])
        return alternatives

    def _sequence(self, parts: list[str], seen: tuple[str, ...] = ()) -> list[list[dict[str, Any]]]:
        choices: list[list[list[dict[str, Any]]]] = []
        for part in parts:
            alternatives, optional = self._element(part, seen)
            if optional:
                alternatives = [*alternatives, []]
            choices.append(alternatives)
        variants = []
        for combination in itertools.product(*choices):
            variant = [token for piece in combination for token in piece]
            if any("OP" not in token for token in variant):
                variants.append(variant)
            if len(variants) > MAX_VARIANTS:
                raise ValueError(f"rule {' '.join(parts)!r} expands to too many patterns")
        return variants

    def compile(self, rule: str) -> list[list[dict[str, Any]]]:
        """Return the Matcher patterns of one rule line."""
        return self._sequence(rule.split())


class Detector:
    """Finds every concern a message raises, most urgent first."""

    def __init__(self, patterns: Patterns) -> None:
        """Compile one version of the patterns."""
        self.version = patterns.version
        self.normalise = Normaliser(patterns)
        vocab = self.normalise.nlp.vocab
        compiler = RuleCompiler(patterns.concepts, self.normalise.key)
        self.matcher = Matcher(vocab)
        for level in SEVERITY:
            for rule in patterns.levels[level.value]:
                self.matcher.add(level.value, compiler.compile(rule))
        self.exclusions = Matcher(vocab)
        for rule in patterns.exclusions:
            self.exclusions.add("exclusion", compiler.compile(rule))
        self.context = _context(self.normalise.nlp, patterns.context)

    def findings(self, text: str) -> list[Span]:
        """Return every finding in the message, with ConText's attributes set."""
        doc = self.normalise(text)
        excluded = [(start, end) for _, start, end in self.exclusions(doc)]
        spans = [
            Span(doc, start, end, label=match_id)
            for match_id, start, end in self.matcher(doc)
            if not any(start < e_end and e_start < end for e_start, e_end in excluded)
        ]
        doc.spans[SPAN_GROUP] = spans
        self.context(doc)
        return list(doc.spans[SPAN_GROUP])

    def detect_all(self, text: str | None) -> list[Concern]:
        """Return one concern per level the message raises, most urgent first."""
        if not text or not text.strip():
            return []
        found: dict[Level, str] = {}
        for span in self.findings(text):
            if any(getattr(span._, attribute) for attribute in CONTEXT_CATEGORIES.values()):
                continue
            found.setdefault(Level(span.label_), span.text)
        return [Concern(level, found[level]) for level in SEVERITY if level in found]


def _context(nlp: Any, settings: dict[str, Any]) -> ConText:
    """Return medspaCy's ConText with its own rules, less those that do not fit patients' words."""
    dropped = {str(literal).lower() for literal in settings.get("drop", [])}
    scopes: dict[str, int] = settings.get("max_scope", {})
    rules = [
        rule
        for rule in ConTextRule.from_json(DEFAULT_RULES_FILEPATH)
        if rule.category in CONTEXT_CATEGORIES and rule.literal.lower() not in dropped
    ]
    for entry in settings.get("add", []):
        rules.append(
            ConTextRule(
                entry["literal"],
                entry["category"],
                pattern=entry.get("pattern"),
                direction=entry.get("direction", "BIDIRECTIONAL"),
            )
        )
    for rule in rules:
        if rule.direction.upper() != "TERMINATE" and rule.max_scope is None:
            rule.max_scope = scopes.get(rule.category)
    context = ConText(
        nlp,
        rules=None,
        input_span_type="group",
        span_group_name=SPAN_GROUP,
        span_attrs={category: {attr: True} for category, attr in CONTEXT_CATEGORIES.items()},
    )
    context.add(rules)
    return context
