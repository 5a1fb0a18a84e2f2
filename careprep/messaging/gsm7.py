"""GSM-7, the alphabet of a plain SMS: the characters it carries and the septets a text takes.

A text in GSM-7 travels as 160 characters in one segment, or 153 per segment when it is
split; anything else (curly quotes, emoji) turns the whole message into UCS-2 at 70.
"""

from __future__ import annotations

import re
import unicodedata

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
"""Characters that take two of a segment's septets."""

SEGMENT = 153
"""A concatenated SMS segment holds 153 GSM-7 characters."""

TWO_SEGMENTS = 2 * SEGMENT
"""A reply may use two segments."""

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
