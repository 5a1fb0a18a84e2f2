"""The preparation questions: the one place each question is defined.

The Rasa domain (form slots, ask actions), the record sections and the
exports are derived from this list or held to it by tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(str, Enum):
    """How an answer to a question is read."""

    DATE = "date"
    YES_NO = "yes_no"
    FREE_TEXT = "free_text"
    GOALS = "goals"
    MULTI_CHOICE = "multi_choice"
    SCALE = "scale"
    CHOICE = "choice"
    CONFIRM = "confirm"


@dataclass(frozen=True)
class Question:
    """One preparation question.

    Attributes:
        id: stable identifier, also the Rasa slot name and the store key.
        section: the heading of the record section the answer belongs to.
        kind: how the answer is read.
        text: the question as the patient sees it.
        reason: a one-line answer to "why do you ask?".
        options: the choices for choice questions, in the order offered.
        option_words: for a single choice, words that name each option ("a year").
        aliases: words a patient may use to name this question ("change my goals").
        in_flow: asked in the preparation form (identity is asked by the SMS channel).

    """

    id: str
    section: str
    kind: Kind
    text: str
    reason: str
    options: tuple[str, ...] = ()
    option_words: tuple[tuple[str, ...], ...] = ()
    aliases: tuple[str, ...] = field(default_factory=tuple)
    in_flow: bool = True


TOPICS = (
    "Medicines",
    "Pain",
    "Mood and worries",
    "Sleep",
    "Eating",
    "Being active",
    "Breathing",
    "Money, work or housing",
    "Loneliness",
    "Something else",
)

NEEDS = (
    "An interpreter",
    "Large print",
    "Easy read",
    "A longer appointment",
    "Step-free access",
    "Someone with me",
)

REVIEW_INTERVALS = (
    "Every 3 months",
    "Every 6 months",
    "Every 12 months",
    "Decide at the appointment",
)

YES_NO = ("Yes", "No")

MAX_GOALS = 3


def numbered(options: tuple[str, ...]) -> str:
    """Return options as numbered lines ("1 Medicines")."""
    return "\n".join(f"{number} {option}" for number, option in enumerate(options, start=1))


QUESTIONS: tuple[Question, ...] = (
    Question(
        id="identity",
        section="Identity check",
        kind=Kind.DATE,
        text="To keep your answers private, please reply with your date of birth.",
        reason="We check it is you before we ask or show anything personal.",
        in_flow=False,
    ),
    Question(
        id="consent_start",
        section="Consent to start",
        kind=Kind.YES_NO,
        text="Are you happy to go ahead?",
        reason="We only go ahead if you are happy to. Your answers help your care team prepare.",
        options=YES_NO,
    ),
    Question(
        id="what_matters",
        section="What matters to me",
        kind=Kind.FREE_TEXT,
        text=(
            "What matters most to you in your life at the moment? "
            "It could be people, things you enjoy or things you want to keep doing."
        ),
        reason="Your care is planned around what matters to you, not only your health.",
        aliases=("what matters", "what matters to me", "what matters most", "what matters to you"),
    ),
    Question(
        id="going_well",
        section="What is going well",
        kind=Kind.FREE_TEXT,
        text="What is going well for you at the moment? Is there anything you are proud of?",
        reason="Knowing what goes well helps plan care that builds on your strengths.",
        aliases=("going well", "what is going well", "what's going well", "strengths"),
    ),
    Question(
        id="not_going_well",
        section="What is not going well",
        kind=Kind.FREE_TEXT,
        text="What is not going so well, or worries you?",
        reason="It helps your care team know what to talk about first.",
        aliases=(
            "not going well",
            "what is not going well",
            "what's not going well",
            "worries",
            "my worries",
        ),
    ),
    Question(
        id="good_day",
        section="A good day for me",
        kind=Kind.FREE_TEXT,
        text="What does a good day look like for you? You can SKIP this one.",
        reason="It helps your care team understand what you want more of.",
        aliases=("good day", "a good day"),
    ),
    Question(
        id="goals",
        section="My goals",
        kind=Kind.GOALS,
        text=(
            "What is one thing you would like to be able to do, or change, in the next few months?"
        ),
        reason="Your plan is built around goals that you choose.",
        aliases=("goal", "goals"),
    ),
    Question(
        id="topics",
        section="What I'd like to talk about",
        kind=Kind.MULTI_CHOICE,
        text=(
            "Which of these would you like to talk about? "
            "Reply with the numbers, most important first (for example 2 5)."
        ),
        reason="So your appointment is spent on what you want to talk about.",
        options=TOPICS,
        aliases=("topic", "topics"),
    ),
    Question(
        id="questions",
        section="My questions",
        kind=Kind.FREE_TEXT,
        text="What questions would you like to ask at your appointment? You can SKIP this one.",
        reason="So your questions are not forgotten on the day.",
        aliases=("question", "questions", "my questions"),
    ),
    Question(
        id="support",
        section="Who supports me",
        kind=Kind.FREE_TEXT,
        text=(
            "Who helps you day to day? Would you like someone to come with you to the appointment?"
        ),
        reason="Knowing who helps you means your plan can include them.",
        aliases=("support", "who helps me", "who supports me", "helpers"),
    ),
    Question(
        id="confidence",
        section="My confidence",
        kind=Kind.SCALE,
        text=(
            "From 0 to 10, how confident do you feel about managing your health day to day? "
            "0 is not at all, 10 is very confident."
        ),
        reason="It shows how much support you may want. There is no right or wrong answer.",
        aliases=("confidence", "my confidence", "score"),
    ),
    Question(
        id="needs",
        section="What would help at the appointment",
        kind=Kind.MULTI_CHOICE,
        text=(
            "Would anything make the appointment easier for you? "
            "Reply with numbers, tell me in your own words, or reply NONE."
        ),
        reason="So the practice can arrange it before you arrive.",
        options=NEEDS,
        aliases=("needs", "what would help", "what would make it easier"),
    ),
    Question(
        id="review_interval",
        section="How often I'd like a review",
        kind=Kind.CHOICE,
        text="After your appointment, how often would you like to review your plan?",
        reason="Your plan is reviewed as often as you choose.",
        options=REVIEW_INTERVALS,
        option_words=(
            ("3", "three", "quarter", "quarterly"),
            ("6", "six", "half a year", "half year"),
            ("12", "twelve", "year", "yearly", "annual", "annually"),
            ("decide", "not sure", "don't know", "dont know", "at the appointment"),
        ),
        aliases=("review", "review interval", "how often"),
    ),
    Question(
        id="readback",
        section="Checked by me",
        kind=Kind.CONFIRM,
        text="Reply YES if this is right, or the number of a part you want to change.",
        reason="So you can check we have it right before anyone reads it.",
    ),
    Question(
        id="consent_share",
        section="Consent to share",
        kind=Kind.YES_NO,
        text="May we share your answers with your care team before your appointment?",
        reason="We only share your answers if you say yes.",
        options=YES_NO,
    ),
)

QUESTIONS_BY_ID: dict[str, Question] = {question.id: question for question in QUESTIONS}

FLOW: tuple[Question, ...] = tuple(question for question in QUESTIONS if question.in_flow)
"""The questions of the preparation conversation, in the order they are asked."""

FLOW_IDS: tuple[str, ...] = tuple(question.id for question in FLOW)

EDITABLE: tuple[Question, ...] = tuple(
    question for question in FLOW if question.kind not in (Kind.YES_NO, Kind.CONFIRM)
)
"""The questions the read-back offers to change, numbered in this order."""


def question(question_id: str) -> Question:
    """Return the question with this id."""
    return QUESTIONS_BY_ID[question_id]


def position(question_id: str) -> int:
    """Return the 1-based position of a question in the conversation."""
    return FLOW_IDS.index(question_id) + 1


def find_by_alias(words: str) -> Question | None:
    """Return the editable question a patient named ("goals", "my worries"), if any."""
    wanted = words.strip().lower()
    for candidate in EDITABLE:
        if wanted in candidate.aliases or wanted == candidate.section.lower():
            return candidate
    return None
