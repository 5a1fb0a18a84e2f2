"""Reading patients' replies: yes/no, 0-10 scales, numbered and named choices.

Each reader returns the value to store, or raises ``Unreadable`` with a
plain-English hint that is sent back before the question is asked again.
"""

from __future__ import annotations

import re
from datetime import date

from careprep.preparation.commands import normalise
from careprep.preparation.questionnaire import Kind, Question

NUMBER_WORDS = {
    "zero": 0,
    "nought": 0,
    "none": 0,
    "nil": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}

YES_WORDS = {
    "yes",
    "y",
    "yeah",
    "yea",
    "yep",
    "yup",
    "ok",
    "okay",
    "sure",
    "fine",
    "go ahead",
    "yes please",
    "yes thanks",
    "yes thank you",
    "ok then",
    "of course",
    "that's fine",
    "thats fine",
    "that's right",
    "thats right",
    "correct",
    "right",
    "happy to",
    "i am",
    "i'm happy",
    "im happy",
    "i agree",
    "agree",
    "alright",
    "all right",
}
NO_WORDS = {
    "no",
    "n",
    "nope",
    "nah",
    "no thanks",
    "no thank you",
    "not really",
    "i'd rather not",
    "id rather not",
    "i would rather not",
    "don't",
    "dont",
    "do not",
    "not happy",
    "i'm not",
    "im not",
    "no way",
    "not yet",
}
NOTHING_WORDS = {
    "none",
    "no",
    "nothing",
    "no thanks",
    "nothing else",
    "that's all",
    "thats all",
    "that's it",
    "thats it",
    "no more",
    "nope",
    "n",
    "nah",
    "no thank you",
    "done",
    "finished",
    "not really",
    "nothing thanks",
    "none thanks",
    "all done",
}


MAX_ANSWER_CHARACTERS = 3000


class Unreadable(ValueError):
    """A reply that does not answer the question; the message says what to send."""


def read_yes_no(text: str) -> bool:
    """Read YES/NO, common variants, or the option number (1 yes, 2 no)."""
    folded = normalise(text)
    if folded in YES_WORDS or folded == "1":
        return True
    if folded in NO_WORDS or folded == "2":
        return False
    raise Unreadable("Please reply YES or NO.")


def read_scale(text: str) -> int:
    """Read a whole number from 0 to 10, as digits ("7", "7/10") or a word ("seven")."""
    folded = normalise(text)
    folded = re.sub(r"\s*(?:/|out of)\s*10$", "", folded)
    folded = re.sub(r"^(?:about|around|maybe|i'd say|id say|i think|probably)\s+", "", folded)
    value: int | None = None
    if re.fullmatch(r"\d{1,2}", folded):
        value = int(folded)
    elif folded in NUMBER_WORDS and folded != "none":
        value = NUMBER_WORDS[folded]
    if value is None or not 0 <= value <= 10:
        raise Unreadable("Please reply with one number from 0 to 10, for example 6.")
    return value


CONNECTING_WORDS = re.compile(
    r"\b(?:and|or|then|also|plus|please|thanks|thank you|i['\u2019]d like to talk about|"
    r"i want to talk about|talk about|about)\b",
    re.IGNORECASE,
)
"""Words that only join the options a patient picks ("2 and 4 please")."""
WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
OPENING_MARKS = "\"'(\u2018\u201c"
CLOSING_MARKS = ".?!\"')\u2019\u201d"


def _keywords(option: str) -> list[str]:
    lowered = option.lower()
    return [lowered] + [
        word
        for word in re.split(r"[ ,]+", lowered)
        if len(word) > 3 and word not in {"with", "something", "else", "every", "months", "longer"}
    ]


def _own_words(text: str, taken: list[tuple[int, int]]) -> str | None:
    """Return the patient's own words around the options they picked, exactly as written.

    The own words run from the first to the last word that neither picks an option
    nor only joins picks; nothing inside that stretch is changed or left out.
    """
    if not taken:
        return text.strip() or None
    joining = [(found.start(), found.end()) for found in CONNECTING_WORDS.finditer(text)]
    own = [
        word
        for word in WORD.finditer(text)
        if not any(start <= word.start() < end for start, end in taken + joining)
    ]
    if not own:
        return None
    start, end = own[0].start(), own[-1].end()
    while start > 0 and text[start - 1] in OPENING_MARKS:
        start -= 1
    while end < len(text) and text[end] in CLOSING_MARKS:
        end += 1
    return text[start:end]


def read_choices(text: str, options: tuple[str, ...]) -> list[str]:
    """Read several options by number or name, in the patient's order of priority.

    Words that name no option are kept as the patient wrote them, after the options,
    so "2 4 my knees" is recorded as Pain, Sleep and "my knees".
    """
    if normalise(text) in NOTHING_WORDS:
        return []
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for number in re.finditer(r"\b\d{1,2}\b", text):
        if 1 <= int(number.group()) <= len(options):
            found.append((number.start(), options[int(number.group()) - 1]))
        taken.append(number.span())
    for option in options:
        for word in _keywords(option):
            pattern = re.escape(word).replace(r"\ ", r"\s+")
            named = next(
                (
                    match
                    for match in re.finditer(rf"\b{pattern}\w*", text, re.IGNORECASE)
                    if not any(start <= match.start() < end for start, end in taken)
                ),
                None,
            )
            if named:
                found.append((named.start(), option))
                taken.append(named.span())
                break
    chosen: list[str] = []
    for _, option in sorted(found):
        if option not in chosen:
            chosen.append(option)
    own_words = _own_words(text, taken)
    if own_words:
        chosen.append(own_words)
    if not chosen:
        raise Unreadable(
            f"Please reply with numbers from 1 to {len(options)}, or tell me in your own words."
        )
    return chosen


def read_choice(
    text: str, options: tuple[str, ...], option_words: tuple[tuple[str, ...], ...] = ()
) -> str:
    """Read exactly one option: by its number, its title, or words that name it."""
    folded = normalise(text)
    if re.fullmatch(r"\d{1,2}", folded) and 1 <= int(folded) <= len(options):
        return options[int(folded) - 1]
    for option in options:
        if folded == option.lower():
            return option
    for option, words in zip(options, option_words, strict=False):
        if any(re.search(rf"\b{re.escape(word)}\b", folded) for word in words):
            return option
    choices = ", ".join(str(number) for number in range(1, len(options)))
    raise Unreadable(f"Please reply {choices} or {len(options)}.")


_LEADING_NUMBER = re.compile(r"^(\d{1,2})(?:\b[\s.,:;)-]*|$)")


def read_goal_progress(text: str, question: Question) -> dict[str, str]:
    """Read how a goal is going: an option (by number or words) and what helped, if said.

    "2 the physio helped" gives "Getting there" and the note "the physio helped"; words
    that name an option keep the whole reply as the note, in the patient's own words.
    """
    if len(text) > MAX_ANSWER_CHARACTERS:
        raise Unreadable(
            f"That answer is too long for me. Please keep it under {MAX_ANSWER_CHARACTERS:,} "
            "characters."
        )
    folded = normalise(text)
    number = _LEADING_NUMBER.match(text.strip())
    if number and 1 <= int(number.group(1)) <= len(question.options):
        note = text.strip()[number.end() :].strip()
        return {"status": question.options[int(number.group(1)) - 1], "note": note}
    for option, words in reversed(list(zip(question.options, question.option_words, strict=True))):
        if any(re.search(rf"\b{re.escape(word)}\b", folded) for word in words):
            return {"status": option, "note": text.strip()}
    choices = ", ".join(str(n) for n in range(1, len(question.options)))
    raise Unreadable(
        f"Please reply {choices} or {len(question.options)}, "
        "and tell me what helped or got in the way."
    )


MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_NUMERIC_DATE = re.compile(r"^(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{2}|\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_PACKED_DATE = re.compile(r"^(\d{2})(\d{2})(\d{4})$")
_WORDS_DATE = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?(?: of)? ([a-z]+),? (\d{2}|\d{4})$")
_US_WORDS_DATE = re.compile(r"^([a-z]+) (\d{1,2})(?:st|nd|rd|th)?,? (\d{2}|\d{4})$")


def _full_year(year: str, today: date) -> int:
    if len(year) == 4:
        return int(year)
    candidate = 2000 + int(year)
    return candidate if candidate <= today.year else 1900 + int(year)


def read_date_of_birth(text: str, today: date | None = None) -> date:
    """Read a date of birth in the usual UK ways: 31/01/1950, 31.1.50, 31 Jan 1950, 1950-01-31."""
    today = today or date.today()
    folded = normalise(text)
    parts: tuple[str, str | int, str] | None = None
    if match := _ISO_DATE.match(folded):
        parts = (match.group(3), match.group(2), match.group(1))
    elif match := _NUMERIC_DATE.match(folded) or _PACKED_DATE.match(folded):
        parts = (match.group(1), match.group(2), match.group(3))
    elif (match := _WORDS_DATE.match(folded)) and match.group(2) in MONTHS:
        parts = (match.group(1), MONTHS[match.group(2)], match.group(3))
    elif (match := _US_WORDS_DATE.match(folded)) and match.group(1) in MONTHS:
        parts = (match.group(2), MONTHS[match.group(1)], match.group(3))
    hint = "Please send your date of birth like this: 31/01/1950."
    if parts is None:
        raise Unreadable(hint)
    day, month, year = parts
    try:
        born = date(_full_year(str(year), today), int(month), int(day))
    except ValueError as problem:
        raise Unreadable(f"That date does not exist. {hint}") from problem
    if born > today:
        raise Unreadable(f"That date is in the future. {hint}")
    return born


def read_answer(question: Question, text: str) -> object:
    """Return the stored value of a reply to ``question``, or raise ``Unreadable``."""
    if question.kind is Kind.YES_NO:
        return read_yes_no(text)
    if question.kind is Kind.DATE:
        return read_date_of_birth(text)
    if question.kind is Kind.SCALE:
        return read_scale(text)
    if question.kind is Kind.CHOICE:
        return read_choice(text, question.options, question.option_words)
    if question.kind is Kind.MULTI_CHOICE:
        return read_choices(text, question.options)
    if not text.strip():
        raise Unreadable("I didn't get an answer there.")
    if len(text) > MAX_ANSWER_CHARACTERS:
        raise Unreadable(
            f"That answer is too long for me. Please keep it under {MAX_ANSWER_CHARACTERS:,} "
            "characters, or send it in shorter parts."
        )
    return text.strip()
