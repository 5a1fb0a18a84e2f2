"""The spaCy matcher behind ``bot.safety.detect`` (see ``patterns.yml`` for the syntax)."""

from __future__ import annotations

import re
from typing import Any

import spacy
from spacy.matcher import Matcher
from spacy.tokens import Doc

from bot.safety import SEVERITY, Concern, Level

GAP = 3
NEGATION_WINDOW = 5
PAST_WINDOW = 6


def _token(part: str) -> list[dict[str, Any]]:
    if part == "*":
        return [{"OP": "?"}] * GAP
    if len(part) > 2 and part.startswith("/") and part.endswith("/"):
        return [{"NORM": {"REGEX": part[1:-1]}}]
    optional = part.endswith("?")
    words = part.rstrip("?").split("|")
    token: dict[str, Any] = {"NORM": {"IN": words}} if len(words) > 1 else {"NORM": words[0]}
    if optional:
        token["OP"] = "?"
    return [token]


def compile_pattern(phrase: str) -> list[dict[str, Any]]:
    """Turn one pattern line into a spaCy Matcher pattern."""
    return [token for part in phrase.split() for token in _token(part)]


class Detector:
    """Finds the most urgent concern in a message, or None."""

    def __init__(self, patterns: dict[str, Any]) -> None:
        """Compile the patterns of one version of ``patterns.yml``."""
        self.version = patterns["version"]
        self.nlp = spacy.blank("en")
        self.rewrites = [
            (re.compile(pattern, re.IGNORECASE), replacement)
            for pattern, replacement in patterns["rewrite"].items()
        ]
        self.spelling: dict[str, str] = patterns["spelling"]
        self.negations = set(patterns["negation"]["cues"])
        self.breakers = set(patterns["negation"]["breakers"])
        self.matcher = Matcher(self.nlp.vocab)
        for level in SEVERITY:
            self.matcher.add(
                level.value, [compile_pattern(p) for p in patterns["levels"][level.value]]
            )
        self.matcher.add("everyday", [compile_pattern(p) for p in patterns["everyday"]])
        self.matcher.add("past", [compile_pattern(p) for p in patterns["past"]])

    def _doc(self, text: str) -> Doc:
        for pattern, replacement in self.rewrites:
            text = pattern.sub(replacement, text)
        doc = self.nlp(text.lower().replace("\u2019", "'").replace("\u2018", "'"))
        for token in doc:
            token.norm_ = self.spelling.get(token.norm_, token.norm_)
        return doc

    def _negated(self, doc: Doc, start: int) -> bool:
        window = doc[max(0, start - NEGATION_WINDOW) : start]
        for index, token in enumerate(window):
            if token.norm_ in self.negations:
                after = {later.norm_ for later in window[index + 1 :]}
                return not after & self.breakers
        return False

    @staticmethod
    def _in_the_past(past: list[int], end: int) -> bool:
        return any(end <= start < end + PAST_WINDOW for start in past)

    def detect(self, text: str | None) -> Concern | None:
        """Return the most urgent concern a message raises, or None."""
        if not text or not text.strip():
            return None
        doc = self._doc(text)
        matches = self.matcher(doc)
        labelled = [
            (self.nlp.vocab.strings[match_id], start, end) for match_id, start, end in matches
        ]
        everyday = [(start, end) for label, start, end in labelled if label == "everyday"]
        past = [start for label, start, _ in labelled if label == "past"]
        found: dict[Level, str] = {}
        for label, start, end in labelled:
            if label in ("everyday", "past") or self._negated(doc, start):
                continue
            if self._in_the_past(past, end):
                continue
            if any(start < e_end and e_start < end for e_start, e_end in everyday):
                continue
            found.setdefault(Level(label), doc[start:end].text)
        for level in SEVERITY:
            if level in found:
                return Concern(level, found[level])
        return None
