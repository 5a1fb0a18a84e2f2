"""Making replies SMS-native: GSM-7 characters, numbered options, at most two segments."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
"""Characters that take two of a segment's septets."""

TWO_SEGMENTS = 306
"""A concatenated SMS segment holds 153 GSM-7 characters; a reply may use two."""

REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u2022": "-",
    "\u00b7": "-",
    "\u00a0": " ",
    "\t": " ",
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u0152": "OE",
    "\u0153": "oe",
}


def to_gsm7(text: str) -> str:
    """Replace curly quotes, dashes and accents, and drop what GSM-7 cannot carry (emoji)."""
    out = []
    for char in text:
        char = REPLACEMENTS.get(char, char)
        if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in char):
            out.append(char)
            continue
        plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append("".join(c for c in plain if c in GSM7_BASIC))
    return re.sub(r"[ ]{2,}", " ", "".join(out)).strip()


def septets(text: str) -> int:
    """Return how many GSM-7 septets a text takes."""
    return sum(2 if char in GSM7_EXTENDED else 1 for char in text)


def with_options(text: str, options: Sequence[str]) -> str:
    """Add numbered options for buttons ("1 Yes / 2 No ... Reply 1 or 2.")."""
    if not options:
        return text
    numbers = [str(number) for number in range(1, len(options) + 1)]
    listed = "\n".join(
        f"{number} {option}" for number, option in zip(numbers, options, strict=True)
    )
    choice = numbers[0] if len(numbers) == 1 else f"{', '.join(numbers[:-1])} or {numbers[-1]}"
    return f"{text}\n{listed}\nReply {choice}."


def _pieces(text: str) -> list[tuple[str, str]]:
    """Split text into (separator, piece): sentences within lines, then words if need be."""
    pieces: list[tuple[str, str]] = []
    for line_number, line in enumerate(text.split("\n")):
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", line.strip()) if s]
        for index, sentence in enumerate(sentences):
            separator = "\n" if index == 0 and line_number > 0 else " "
            if septets(sentence) <= TWO_SEGMENTS:
                pieces.append((separator, sentence))
                continue
            for word_index, word in enumerate(sentence.split(" ")):
                pieces.append((separator if word_index == 0 else " ", word[:TWO_SEGMENTS]))
    return pieces


def split_for_sms(text: str) -> list[str]:
    """Return the text as messages of at most two segments each, split in order at sentences."""
    messages: list[str] = []
    current = ""
    for separator, piece in _pieces(to_gsm7(text)):
        candidate = f"{current}{separator}{piece}" if current else piece
        if septets(candidate) <= TWO_SEGMENTS:
            current = candidate
        else:
            messages.append(current)
            current = piece
    if current:
        messages.append(current)
    return messages
