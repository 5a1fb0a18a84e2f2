"""The patient's own copy of their record: short, plain English, and fit for one SMS of 3 parts.

Sent when a patient replies SUMMARY, and shown at the end of the web chat. It holds
their own words, cut only at word boundaries when the whole would not fit, never
reworded, and in GSM-7 so that no phone turns it into 70-character parts.
"""

from __future__ import annotations

from datetime import datetime

from careprep.messaging.gsm7 import SEGMENT, septets, to_gsm7
from careprep.preparation.questionnaire import QuestionId
from careprep.record import Record, shorten

MAX_PARTS = 3
LIMIT = MAX_PARTS * SEGMENT
"""At most three concatenated SMS parts of 153 GSM-7 characters."""

SHORTEST_QUOTE = 40
"""Below this, a quotation says too little: it is left out instead of cut further."""

WORDS = (
    (QuestionId.WHAT_MATTERS, "What matters"),
    (QuestionId.GOING_WELL, "Going well"),
    (QuestionId.NOT_GOING_WELL, "Not going well"),
    (QuestionId.GOOD_DAY, "A good day"),
    (QuestionId.QUESTIONS, "Your questions"),
    (QuestionId.SUPPORT, "Support"),
    (QuestionId.CHANGES, "What has changed"),
)
"""The free-text answers, in the order they are told back, with a short label each."""

KEPT_LONGEST = (
    QuestionId.CHANGES,
    QuestionId.WHAT_MATTERS,
    QuestionId.NOT_GOING_WELL,
    QuestionId.QUESTIONS,
    QuestionId.GOING_WELL,
    QuestionId.SUPPORT,
    QuestionId.GOOD_DAY,
)
"""When not all fits, the answers left out last come first here."""


def _when(record: Record) -> str:
    moment = datetime.fromisoformat(record.appointment_at)
    return f"{moment:%a} {moment.day} {moment:%b} at {moment:%H:%M}"


def _fixed_lines(record: Record, goal_limit: int | None) -> list[str]:
    """Return the lines kept to the last: goals, topics, confidence, review and sharing."""

    def cut(words: str) -> str:
        return words if goal_limit is None else shorten(words, goal_limit)

    lines = []
    reviewed = [f"{cut(goal.text)}: {goal.status.lower()}" for goal in record.reviewed_goals]
    if reviewed:
        lines.append("Your goals: " + "; ".join(reviewed))
    goals = [cut(goal.text) for goal in record.goals]
    if goals:
        lines.append(("New goals: " if record.is_review else "Goals: ") + "; ".join(goals))
    topics = record.answered(QuestionId.TOPICS)
    if topics:
        lines.append("To talk about: " + ", ".join(cut(str(item)) for item in topics))
    if record.confidence is not None:
        lines.append(f"Confidence: {record.confidence} out of 10")
    review = record.answered(QuestionId.REVIEW_INTERVAL)
    if review:
        lines.append(f"{'Next review' if record.is_review else 'Review'}: {review}")
    shared = {True: "yes", False: "no", None: "not yet asked"}[record.consent_to_share]
    lines.append(f"Shared with your care team: {shared}")
    return lines


def _compose(
    record: Record,
    quoted: tuple[str, ...],
    quote_limit: int | None,
    goal_limit: int | None = None,
) -> str:
    lines = [f"Your answers for {record.practice}, {_when(record)}:"]
    for question_id, label in WORDS:
        section = record.find(question_id)
        if question_id not in quoted or section is None or section.state != "answered":
            continue
        if not section.patient_words:
            continue
        words = section.patient_words
        lines.append(f"{label}: {words if quote_limit is None else shorten(words, quote_limit)}")
    lines += _fixed_lines(record, goal_limit)
    return to_gsm7("\n".join(lines))


def _fits(text: str) -> bool:
    return septets(text) <= LIMIT


def patient_copy(record: Record) -> str:
    """Return the patient's copy of their record in at most three SMS parts of GSM-7.

    When everything does not fit, the longest quotations of their words are cut, at
    word boundaries, no shorter than ``SHORTEST_QUOTE``; then the least needed answers
    are left out (``KEPT_LONGEST``); goals and choices are cut only if they alone do
    not fit.
    """
    if record.completeness["answered"] == 0:
        return to_gsm7(
            f"You have not answered any questions yet for {record.practice}, {_when(record)}."
        )
    for kept in range(len(KEPT_LONGEST), -1, -1):
        quoted = KEPT_LONGEST[:kept]
        text = _compose(record, quoted, None)
        if _fits(text):
            return text
        for limit in range(200, SHORTEST_QUOTE - 1, -5):
            text = _compose(record, quoted, limit)
            if _fits(text):
                return text
    for limit in range(120, SHORTEST_QUOTE - 1, -10):
        text = _compose(record, (), None, limit)
        if _fits(text):
            return text
    return text
