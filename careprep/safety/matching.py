"""The rule-based detector behind ``careprep.safety.detect`` (see ``patterns/`` for the rules).

A message goes through four steps, each from a library built for it:

1. text-speak is rewritten ("cnt" -> "can't") and each unknown word that is one or
   two edits from a word of the safety vocabulary is corrected to it (symspellpy,
   restricted to that vocabulary; words of its English dictionary are left alone);
2. every word is reduced to its lemma (spaCy's lookup lemmatizer, from
   ``spacy-lookups-data``), so "collapsed", "collapsing" and "collapse" are one word;
3. the rules, written over concepts ("LOSE_CONSCIOUSNESS", "SELF ~3 HARM") rather than
   phrases, are matched with bounded gaps inside a sentence (``Rules``);
4. each finding is checked by medspaCy's ConText for negation, history and
   hypotheticals ("no chest pain", "a fall two years ago", "what if I collapse"). A
   finding that ConText marks is dropped; uncertainty and family members are never a
   reason to drop one ("I think he's had a stroke", "my husband collapsed").
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spacy
from medspacy.context import ConText, ConTextRule
from medspacy.context.context import DEFAULT_RULES_FILEPATH
from spacy.lookups import Table
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc, Span
from symspellpy import SymSpell, Verbosity

from careprep import yamltext
from careprep.safety import SEVERITY, Concern, Level

SPAN_GROUP = "safety"
RULES_FOUND = "safety_rules"
"""Where ``Detector.findings`` leaves, in a message's ``user_data``, the rule lines behind each
finding (its level, start and end), for ``Detector.explain``."""
SENTENCE_END = [".", "!", "?", ";", "..."]
"""Where a sentence ends, for the rules' gaps and for ConText's reach; an ellipsis, however
written ("..", "…"), is read as "..." first ("fell last year... now he won't wake")."""
ELLIPSIS = re.compile(r"\s*(?:\.{2,}|\u2026)\s*")
LEMMA_FIXES = {"putting": "put"}
"""Lemmas the lookup table gets wrong ("putting" is not golf). "does" -> "doe" is wrong too, but
reading it as "do" made "she doesn't want CPR if her heart stops" an emergency: left alone."""
CONCEPT_NAME = re.compile(r"[A-Z]+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
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
    exclusions: dict[str, list[str]]
    topics: dict[str, list[str]]
    """Exclusions for a condition named as a topic (taught, read or asked about), which
    hold only while no claim (``claims``) follows them."""
    claims: list[str]
    """A present case of what was named before it ("... sepsis, I think Mum has it")."""
    context: dict[str, Any]


def load_patterns(folder: Path) -> Patterns:
    """Read and merge the pattern files of a folder; the version carries a digest of them."""
    files = sorted(folder.glob("*.yml"))
    digest = hashlib.sha256()
    rewrite: dict[str, str] = {}
    concepts: dict[str, list[str]] = {}
    levels: dict[str, list[str]] = {level.value: [] for level in SEVERITY}
    exclusions: dict[str, list[str]] = {level.value: [] for level in SEVERITY}
    topics: dict[str, list[str]] = {level.value: [] for level in SEVERITY}
    claims: list[str] = []
    context: dict[str, Any] = {}
    version = None
    for path in files:
        text = path.read_text()
        digest.update(path.name.encode() + b"\n" + text.encode())
        loaded = yamltext.load(text) or {}
        version = loaded.get("version", version)
        rewrite.update(loaded.get("rewrite") or {})
        for name, words in (loaded.get("concepts") or {}).items():
            if name in concepts:
                raise ValueError(f"concept {name} is defined twice ({path.name})")
            if any(isinstance(word, bool) for word in words):
                raise ValueError(f"concept {name} has a bare yes/no/on/off: quote it ({path.name})")
            concepts[name] = _once([str(word) for word in words], f"concept {name}", path)
        own = [Level(level).value for level in loaded.get("levels") or {}]
        for level, rules in (loaded.get("levels") or {}).items():
            levels[Level(level).value].extend(str(rule) for rule in rules)
            _once(levels[Level(level).value], f"level {level}", path)
        # A file's exclusions apply to its own levels; a file with no levels, to all.
        for level in own or list(exclusions):
            exclusions[level].extend(str(rule) for rule in loaded.get("exclusions") or [])
            _once(exclusions[level], f"the exclusions of {level}", path)
            topics[level].extend(str(rule) for rule in loaded.get("topics") or [])
            _once(topics[level], f"the topics of {level}", path)
        claims.extend(str(rule) for rule in loaded.get("claims") or [])
        _once(claims, "the claims", path)
        context.update(loaded.get("context") or {})
    if version is None:
        raise ValueError(f"no pattern file in {folder} gives a version")
    return Patterns(
        f"{version}+{digest.hexdigest()[:8]}",
        rewrite,
        concepts,
        levels,
        exclusions,
        topics,
        claims,
        context,
    )


def _once(lines: list[str], where: str, path: Path) -> list[str]:
    """Return the lines, or refuse a line written twice (a copy hides what an edit meant)."""
    seen: set[str] = set()
    for line in lines:
        if line in seen:
            raise ValueError(f"{where} has {line!r} twice ({path.name})")
        seen.add(line)
    return lines


class Normaliser:
    """Turns a message into a Doc of corrected, lemmatised words (``token.norm_`` is the key)."""

    def __init__(self, patterns: Patterns) -> None:
        """Load the tokenizer, the lemma table and the spelling corrector."""
        self.nlp = spacy.blank("en")
        self.nlp.add_pipe(
            "sentencizer", config={"punct_chars": [*Sentencizer.default_punct_chars, *SENTENCE_END]}
        )
        lemmatizer = self.nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        self.nlp.initialize()
        self.lemmas: Table = lemmatizer.lookups.get_table("lemma_lookup")  # type: ignore[attr-defined]
        self.rewrites = [
            (re.compile(rf"(?<![\w'])(?:{pattern})(?![\w'])", re.IGNORECASE), replacement)
            for pattern, replacement in patterns.rewrite.items()
        ]
        self.english = _english_words()
        self.vocabulary = self._vocabulary(patterns)
        self.speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word in sorted(self.vocabulary):
            if len(word) >= 4:
                self.speller.create_dictionary_entry(word, 1)

    def key(self, word: str) -> str:
        """Return the word the rules match: the lemma of its lower-case form."""
        word = word.lower()
        return LEMMA_FIXES.get(word) or str(self.lemmas.get(word, word))

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
        text = ELLIPSIS.sub(" ... ", text)
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


@dataclass(frozen=True)
class Element:
    """One part of a rule: what it matches, whether it may be left out, the gap before it."""

    kind: str  # "words", "regex" or "concept"
    value: Any
    optional: bool
    gap: int


Spans = frozenset[tuple[int, int]]


class Rules:
    """Rule lines over concepts, matched with bounded gaps inside a sentence.

    Syntax of a rule line (words are lemmas, lower case): ``a|b`` one of these
    (words, concepts or regular expressions); ``CONCEPT`` any phrase of a concept;
    ``x?`` optional; ``~N`` up to N other words in the same sentence; ``*`` is ``~3``;
    ``/regex/`` a word matching it. A concept's phrases use the same syntax. Matching
    is a small dynamic programme over the spans each part matches, so a wide gap
    costs nothing extra.
    """

    def __init__(self, concepts: dict[str, list[str]], key: Any) -> None:
        """Parse every concept; ``key`` turns a written word into the key tokens carry."""
        self.key = key
        self.concepts: dict[str, list[tuple[Element, ...]]] = {}
        self._raw = concepts
        self.phrase_needs: dict[str, list[list[frozenset[str]]]] = {}
        for name in concepts:
            self._concept(name, ())

    def _concept(self, name: str, seen: tuple[str, ...]) -> None:
        if name in self.concepts:
            return
        if name not in self._raw:
            raise ValueError(f"unknown concept {name}")
        if name in seen:
            raise ValueError(f"concept {name} refers to itself")
        self._define(name, [self.parse(phrase, (*seen, name)) for phrase in self._raw[name]])

    def _define(self, name: str, phrases: list[tuple[Element, ...]]) -> None:
        self.concepts[name] = phrases
        self.phrase_needs[name] = [self.needs(phrase) for phrase in phrases]

    def parse(self, line: str, seen: tuple[str, ...] = ()) -> tuple[Element, ...]:
        """Parse one rule line (or concept phrase) into its elements."""
        elements: list[Element] = []
        gap = 0
        for part in line.split():
            if part == "*":
                part = "~3"
            if re.fullmatch(r"~\d+", part):
                gap += int(part[1:])
                continue
            optional = part.endswith("?") and len(part) > 1
            part = part[:-1] if optional else part
            options = part.split("|")
            if _are_options(options):
                # a concept or a regex among the options: the options become an
                # unnamed concept, so "MH_MEANS|gun" matches a means as well as "gun"
                if part not in self.concepts:
                    self._define(part, [self.parse(option, seen) for option in options])
                element = Element("concept", part, optional, gap)
            elif _is_regex(part):
                element = Element("regex", re.compile(part[1:-1]), optional, gap)
            elif _is_concept(part):
                self._concept(part, seen)
                element = Element("concept", part, optional, gap)
            else:
                words = frozenset(self.key(word) for word in part.split("|"))
                element = Element("words", words, optional, gap)
            elements.append(element)
            gap = 0
        if not elements or all(element.optional for element in elements):
            raise ValueError(f"rule {line!r} matches nothing for certain")
        return tuple(elements)

    def match(self, doc: Doc, rule: tuple[Element, ...], cache: dict[Any, Any]) -> Spans:
        """Return the (start, end) spans where a rule matches the doc."""
        ends = cache["sentence_ends"]
        states: set[tuple[int, int] | None] = {None}
        slack: dict[tuple[int, int] | None, int] = {None: 0}
        for element in rule:
            spans = self._spans(doc, element, cache)
            following: set[tuple[int, int] | None] = set()
            following_slack: dict[tuple[int, int] | None, int] = {}
            for state in states:
                allowed = element.gap + slack[state]
                if element.optional:
                    following.add(state)
                    following_slack[state] = max(following_slack.get(state, 0), allowed)
                for start, end in spans:
                    if state is None:
                        joined = (start, end)
                    elif state[1] <= start <= state[1] + allowed and not _crosses(
                        ends, state[1], start
                    ):
                        joined = (state[0], end)
                    else:
                        continue
                    following.add(joined)
                    following_slack.setdefault(joined, 0)
            states, slack = following, following_slack
            if not states:
                return frozenset()
        return frozenset(state for state in states if state is not None)

    def needs(self, rule: tuple[Element, ...]) -> list[frozenset[str]]:
        """Return word sets the doc must each meet for the rule to have any chance.

        A cheap filter before matching: every required part of a rule needs one of
        its words in the message (parts made only of regular expressions need none).
        """
        return [
            words
            for element in rule
            if not element.optional
            for words in [self._words_of(element)]
            if words is not None
        ]

    def _words_of(self, element: Element) -> frozenset[str] | None:
        if element.kind == "words":
            return frozenset(element.value)
        if element.kind == "regex":
            return None
        union: set[str] = set()
        for phrase in self.concepts[element.value]:
            needed = self.needs(phrase)
            if not needed:
                return None
            union |= min(needed, key=len)
        return frozenset(union)

    def _spans(self, doc: Doc, element: Element, cache: dict[Any, Any]) -> Spans:
        cache_key = (element.kind, id(element.value))
        if cache_key not in cache:
            positions: dict[str, list[int]] = cache["positions"]
            if element.kind == "words":
                hits = element.value & positions.keys()
                found = frozenset((i, i + 1) for word in hits for i in positions[word])
            elif element.kind == "regex":
                found = frozenset(
                    (i, i + 1)
                    for word, places in positions.items()
                    if element.value.search(word)
                    for i in places
                )
            else:
                present = positions.keys()
                found = frozenset().union(
                    *(
                        self.match(doc, phrase, cache)
                        for phrase, needs in zip(
                            self.concepts[element.value],
                            self.phrase_needs[element.value],
                            strict=True,
                        )
                        if not any(words.isdisjoint(present) for words in needs)
                    )
                )
            cache[cache_key] = found
        return cache[cache_key]


def _is_regex(part: str) -> bool:
    return len(part) > 2 and part.startswith("/") and part.endswith("/")


def _is_concept(part: str) -> bool:
    """Return True for a concept's name: capitals, or capitals and digits with an underscore."""
    return bool(CONCEPT_NAME.fullmatch(part))


def _are_options(options: list[str]) -> bool:
    """Return True when the parts of "a|b" are options and one is a concept or a regex.

    "MH_MEANS|gun" and "/^[0-9]+$/|few" are options; "/^(?:x|y)$/" is one regex,
    which its own "|" splits into pieces that are not whole regexes.
    """
    if len(options) < 2 or any(o.startswith("/") and not _is_regex(o) for o in options):
        return False
    return any(_is_regex(option) or _is_concept(option) for option in options)


def _crosses(ends: list[int], start: int, stop: int) -> bool:
    """Return True when a sentence end lies between two token positions."""
    return ends[stop] - ends[start] > 0


Parsed = list[tuple[tuple[Element, ...], list[frozenset[str]]]]
"""Rules parsed, each with the word sets a message must meet for it (``Rules.needs``)."""
CLAIM_REACH = 20
"""How many words after a topic a claim may start and still make it a case."""


class Detector:
    """Finds every concern a message raises, most urgent first."""

    def __init__(self, patterns: Patterns) -> None:
        """Parse one version of the patterns."""
        self.version = patterns.version
        self.normalise = Normaliser(patterns)
        self.rules = Rules(patterns.concepts, self.normalise.key)
        self.levels = [
            (level, line, rule, self.rules.needs(rule))
            for level in SEVERITY
            for line in patterns.levels[level.value]
            for rule in [self.rules.parse(line)]
        ]
        self.exclusions = {
            level: self._parsed(lines) for level, lines in patterns.exclusions.items()
        }
        self.topics = {level: self._parsed(lines) for level, lines in patterns.topics.items()}
        self.claims = self._parsed(patterns.claims)
        self.context = _context(self.normalise.nlp, patterns.context)

    def _parsed(self, lines: list[str]) -> Parsed:
        """Return each line's rule and the words it needs (an exclusion, a topic, a claim)."""
        return [(rule, self.rules.needs(rule)) for rule in map(self.rules.parse, lines)]

    def findings(self, doc: Doc) -> list[Span]:
        """Return every finding in a normalised message, with ConText's attributes set."""
        ends = [0]
        positions: dict[str, list[int]] = {}
        for token in doc:
            ends.append(ends[-1] + (token.norm_ in SENTENCE_END))
            positions.setdefault(token.norm_, []).append(token.i)
        cache: dict[Any, Any] = {"sentence_ends": ends, "positions": positions}
        present = positions.keys()
        excluded: dict[str, set[tuple[int, int]]] = {}

        def matches(rules: Parsed) -> set[tuple[int, int]]:
            return set().union(
                *(
                    self.rules.match(doc, rule, cache)
                    for rule, needs in rules
                    if not any(words.isdisjoint(present) for words in needs)
                )
            )

        def claim_after(end: int) -> bool:
            # a present case of what a topic named, told after it ("I read about sepsis,
            # I think Mum has it")
            if "claims" not in cache:
                cache["claims"] = [start for start, _ in matches(self.claims)]
            return any(end <= start <= end + CLAIM_REACH for start in cache["claims"])

        def everyday(level: str) -> set[tuple[int, int]]:
            # The everyday phrases of a level, matched only once a finding needs them.
            if level not in excluded:
                topics = matches(self.topics.get(level, []))
                excluded[level] = matches(self.exclusions.get(level, [])) | {
                    (start, end) for start, end in topics if not claim_after(end)
                }
            return excluded[level]

        found: dict[tuple[str, int, int], list[str]] = {}
        for level, line, rule, needs in self.levels:
            if any(words.isdisjoint(present) for words in needs):
                continue
            for start, end in self.rules.match(doc, rule, cache):
                # an everyday phrase drops a finding that starts or ends in it, not
                # one that only passes over it ("gunk off my chest is dark green")
                if not any(
                    e_start <= start < e_end or e_start < end <= e_end
                    for e_start, e_end in everyday(level.value)
                ):
                    found.setdefault((level.value, start, end), []).append(line)
        doc.user_data[RULES_FOUND] = found
        doc.spans[SPAN_GROUP] = [
            Span(doc, start, end, label=label) for label, start, end in sorted(found)
        ]
        self.context(doc)
        return list(doc.spans[SPAN_GROUP])

    def explain(self, text: str) -> list[str]:
        """Return, for a pattern writer, each rule that matched a message and what became of it."""
        doc = self.normalise(text)
        return [
            f"{span.label_}: {line!r} matched {span.text!r}"
            + (" (dropped by ConText)" if _modified(span) else "")
            for span in self.findings(doc)
            for line in doc.user_data[RULES_FOUND][(span.label_, span.start, span.end)]
        ]

    def detect_all(self, text: str | None) -> list[Concern]:
        """Return one concern per level the message raises, most urgent first."""
        if not text or not text.strip():
            return []
        return self.detect_in(self.normalise(text))

    def detect_in(self, doc: Doc) -> list[Concern]:
        """Return the concerns of a message already normalised (``self.normalise``)."""
        found: dict[Level, str] = {}
        for span in self.findings(doc):
            if _modified(span):
                continue
            found.setdefault(Level(span.label_), span.text)
        return [Concern(level, found[level]) for level in SEVERITY if level in found]


def _modified(span: Span) -> bool:
    """Return True when ConText negates, dates or makes hypothetical a finding.

    A negation or hypothetical cue inside the finding itself ("can't breathe",
    "won't wake", "if he finds out") is part of what was found, never a reason to
    drop it; a date inside it ("banged my head in 2020 while on warfarin") still
    makes it history.
    """
    graph = span.doc._.context_graph
    for modifier in graph.modifiers if graph is not None else []:
        start, end = modifier.modifier_span
        inside = span.start <= start and end <= span.end
        if modifier.category == "HISTORICAL" and inside:
            return True
    for modifier in span._.modifiers:
        start, end = modifier.modifier_span
        inside = span.start <= start and end <= span.end
        if modifier.category in CONTEXT_CATEGORIES and not inside:
            return True
    return False


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
                max_scope=entry.get("max_scope"),
            )
        )
    for rule in rules:
        if rule.direction.upper() in ("TERMINATE", "PSEUDO"):
            # medspaCy ends a cue's scope at a terminating cue only when their scopes
            # overlap at an edge (one scope holding the other is missed), so a cue
            # that only ends or blocks others gets the smallest scope
            rule.max_scope = 1
        elif rule.max_scope is None:
            rule.max_scope = scopes.get(rule.category)
    context = ConText(
        nlp,
        rules=None,
        input_span_type="group",
        span_group_name=SPAN_GROUP,
        span_attrs={category: {attr: True} for category, attr in CONTEXT_CATEGORIES.items()},
        terminating_types=settings.get("terminated_by"),
    )
    context.add(rules)
    return context
