"""Themes a practitioner acts on, tagged in the patient's answers by rules (themes.yml).

A spaCy ``Matcher`` on ``spacy.blank("en")`` reads each answer by lemma, so "walking",
"walked" and "walks" are one word to a phrase. Each tag keeps the patient's own words
that raised it, and each theme names the offer from the six components of personalised
care that it suggests. The rules are data; their version (the file's own number and a
digest of its text) is shown with the themes so a record says which rules read it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from careprep import yamltext

if TYPE_CHECKING:
    from spacy.lookups import Table
    from spacy.tokens import Doc, Span

LOW_CONFIDENCE = 4
CONFIDENCE_OFFER = (
    "Supported self-management: health coaching or self-management education "
    "(confidence to manage their health is low)"
)


@dataclass(frozen=True)
class Theme:
    """A theme: its id, the label a practitioner reads and the offer it suggests."""

    id: str
    label: str
    offer: str


@dataclass(frozen=True)
class Tag:
    """A theme found in one answer, with the patient's words that raised it."""

    theme: Theme
    words: tuple[str, ...]


class Tagger:
    """The rules of themes.yml compiled into two matchers: what raises a theme, and absence."""

    def __init__(self, rules: dict[str, Any], version: str) -> None:
        """Compile every phrase of every theme."""
        import spacy  # here, so that a process may keep TensorFlow out first (careprep.runtime)
        from spacy.matcher import Matcher

        self.version = version
        self.nlp = spacy.blank("en")
        lemmatizer = self.nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        self.nlp.initialize()
        self.lemmas: Table = lemmatizer.lookups.get_table("lemma_lookup")  # type: ignore[attr-defined]
        self.themes = tuple(Theme(t["id"], t["label"], t["offer"]) for t in rules["themes"])
        self.raises = Matcher(self.nlp.vocab)
        self.absent = Matcher(self.nlp.vocab)
        for theme in rules["themes"]:
            for phrase in theme["phrases"]:
                self.raises.add(theme["id"], [self._pattern(phrase)])
            for phrase in theme.get("absent", []):
                self.absent.add(theme["id"], [self._pattern(phrase)])

    def key(self, word: str) -> str:
        """Return the form a word is matched by: the lemma of its lower-case form."""
        word = word.lower()
        return str(self.lemmas.get(word, word))

    def _pattern(self, phrase: str) -> list[dict[str, Any]]:
        pattern: list[dict[str, Any]] = []
        for word in phrase.split():
            optional = word.endswith("?")
            word = word.rstrip("?")
            if word == "_":
                token: dict[str, Any] = {}
            elif word == "#":
                token = {"LIKE_NUM": True}
            elif word.startswith("="):
                token = {"LOWER": {"IN": word[1:].split("|")}}
            else:
                token = {"NORM": {"IN": sorted({self.key(w) for w in word.split("|")})}}
            if optional:
                token["OP"] = "?"
            pattern.append(token)
        return pattern

    def doc(self, text: str) -> Doc:
        """Return the answer as a Doc whose token norms are the keys the phrases match."""
        doc = self.nlp.make_doc(text.replace("\u2019", "'"))
        for token in doc:
            token.norm_ = self.key(token.norm_)
        return doc

    def tag(self, text: str) -> list[Tag]:
        """Return the themes of one answer, in the order the themes are listed."""
        doc = self.doc(text)
        found: dict[str, list[Span]] = {}
        for match_id, start, end in self.raises(doc):
            found.setdefault(self.nlp.vocab.strings[match_id], []).append(doc[start:end])
        for match_id, start, end in self.absent(doc):
            theme_id = self.nlp.vocab.strings[match_id]
            found[theme_id] = [
                span for span in found.get(theme_id, []) if span.end <= start or span.start >= end
            ]
        tags = []
        for theme in self.themes:
            spans = found.get(theme.id)
            if spans:
                tags.append(Tag(theme, _words(spans)))
        return tags


def _words(spans: list[Span]) -> tuple[str, ...]:
    """Return the text of each span not inside a longer one, in reading order."""
    kept = [
        span
        for span in spans
        if not any(
            other is not span
            and other.start <= span.start
            and span.end <= other.end
            and len(other) > len(span)
            for other in spans
        )
    ]
    return tuple(dict.fromkeys(span.text for span in sorted(kept, key=lambda s: s.start)))


@lru_cache(maxsize=1)
def tagger() -> Tagger:
    """Return the tagger for themes.yml, compiled once per process."""
    text = (importlib.resources.files(__package__) / "themes.yml").read_text(encoding="utf-8")
    rules = yamltext.load(text)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return Tagger(rules, f"{rules['version']}+{digest}")


def version() -> str:
    """Return the version of the theme rules: the file's number and a digest of its text."""
    return tagger().version


def themes() -> tuple[Theme, ...]:
    """Return every theme, in the order a record lists them."""
    return tagger().themes


def tag(text: str) -> list[Tag]:
    """Return the themes one answer raises, each with the patient's words that raised it."""
    return tagger().tag(text)


def confidence_offer(score: int | None) -> str | None:
    """Return the offer a low confidence score (0 to 4) suggests, else None."""
    if score is None or score > LOW_CONFIDENCE:
        return None
    return CONFIDENCE_OFFER
