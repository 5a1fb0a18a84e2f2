"""Making replies SMS-native: GSM-7 characters, numbered options, at most two segments."""

from __future__ import annotations

import re
from collections.abc import Sequence

from careprep.messaging.gsm7 import TWO_SEGMENTS, septets, to_gsm7


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
