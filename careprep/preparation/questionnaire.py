"""The questionnaires: each question defined once, in a frozen value with an id and a version.

The preparation (``PREPARE``) is one questionnaire; the review conversation will be
another. The Rasa domain (form slots, ask actions), the record sections and the
exports are derived from a questionnaire or held to it by tests. A preparation
names the questionnaire (id and version) it was asked, so its record is always
read against the questions that were actually asked.
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
    GOAL_REVIEW = "goal_review"
    """One reply per goal under review: how it is going (an option) and what helped."""


class QuestionId:
    """The stable ids of the preparation questions (also the store keys and the Rasa slots)."""

    IDENTITY = "identity"
    CONSENT_START = "consent_start"
    WHAT_MATTERS = "what_matters"
    GOING_WELL = "going_well"
    NOT_GOING_WELL = "not_going_well"
    GOOD_DAY = "good_day"
    GOALS = "goals"
    TOPICS = "topics"
    QUESTIONS = "questions"
    SUPPORT = "support"
    CONFIDENCE = "confidence"
    NEEDS = "needs"
    REVIEW_INTERVAL = "review_interval"
    READBACK = "readback"
    CONSENT_SHARE = "consent_share"
    GOAL_PROGRESS = "goal_progress"
    CHANGES = "changes"
    CONTACT = "contact"


@dataclass(frozen=True)
class Question:
    """One question.

    Attributes:
        id: stable identifier, also the Rasa slot name and the store key.
        section: the heading of the record section the answer belongs to.
        kind: how the answer is read.
        text: the question as the patient sees it.
        reason: a one-line answer to "why do you ask?".
        options: the choices for choice questions, in the order offered.
        option_words: for a single choice, words that name each option ("a year").
        aliases: words a patient may use to name this question ("change my goals").
        in_flow: asked in the conversation (identity is asked only by SMS, before it).
        skippable: whether SKIP may pass it by (not the identity check or consent to start).

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
    skippable: bool = True


@dataclass(frozen=True)
class Questionnaire:
    """An ordered list of questions with an id and a version; a new wording is a new version."""

    id: str
    version: str
    title: str
    questions: tuple[Question, ...]

    def question(self, question_id: str) -> Question:
        """Return the question with this id (KeyError if this questionnaire has none)."""
        for candidate in self.questions:
            if candidate.id == question_id:
                return candidate
        raise KeyError(question_id)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every question's id, the identity check included, in order."""
        return tuple(each.id for each in self.questions)

    @property
    def flow(self) -> tuple[Question, ...]:
        """The questions of the conversation, in the order they are asked."""
        return tuple(each for each in self.questions if each.in_flow)

    @property
    def flow_ids(self) -> tuple[str, ...]:
        """The ids of the questions of the conversation, in order."""
        return tuple(each.id for each in self.flow)

    @property
    def editable(self) -> tuple[Question, ...]:
        """The questions the read-back offers to change, numbered in this order."""
        return tuple(each for each in self.flow if each.kind not in (Kind.YES_NO, Kind.CONFIRM))

    def position(self, question_id: str) -> int:
        """Return the 1-based position of a question in the conversation."""
        return self.flow_ids.index(question_id) + 1

    def find_by_alias(self, words: str) -> Question | None:
        """Return the editable question a patient named ("goals", "my worries"), if any."""
        wanted = words.strip().lower()
        for candidate in self.editable:
            if wanted in candidate.aliases or wanted == candidate.section.lower():
                return candidate
        return None


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

GOAL_PROGRESS = ("Done", "Getting there", "Not started", "No longer matters")
GOAL_PROGRESS_WORDS = (
    ("done", "did it", "achieved", "managed it", "managed to", "finished", "completed"),
    ("getting there", "progress", "better", "slowly", "halfway", "partly", "sort of", "some"),
    ("not started", "haven't started", "havent started", "not yet", "didn't start", "no progress"),
    ("no longer", "doesn't matter", "doesnt matter", "not important", "changed my mind"),
)
"""Words that name each answer about a goal, checked from the last option to the first."""
CONTACT = ("An appointment", "A phone call", "No, not now")

MAX_GOALS = 3


def numbered(options: tuple[str, ...]) -> str:
    """Return options as numbered lines ("1 Medicines")."""
    return "\n".join(f"{number} {option}" for number, option in enumerate(options, start=1))


PREPARATION_QUESTIONS: tuple[Question, ...] = (
    Question(
        id=QuestionId.IDENTITY,
        section="Identity check",
        kind=Kind.DATE,
        text="To keep your answers private, please reply with your date of birth.",
        reason="We check it is you before we ask or show anything personal.",
        in_flow=False,
        skippable=False,
    ),
    Question(
        id=QuestionId.CONSENT_START,
        section="Consent to start",
        kind=Kind.YES_NO,
        text="Are you happy to go ahead?",
        reason="We only go ahead if you are happy to. Your answers help your care team prepare.",
        options=YES_NO,
        skippable=False,
    ),
    Question(
        id=QuestionId.WHAT_MATTERS,
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
        id=QuestionId.GOING_WELL,
        section="What is going well",
        kind=Kind.FREE_TEXT,
        text="What is going well for you at the moment? Is there anything you are proud of?",
        reason="Knowing what goes well helps plan care that builds on your strengths.",
        aliases=("going well", "what is going well", "what's going well", "strengths"),
    ),
    Question(
        id=QuestionId.NOT_GOING_WELL,
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
        id=QuestionId.GOOD_DAY,
        section="A good day for me",
        kind=Kind.FREE_TEXT,
        text="What does a good day look like for you? You can SKIP this one.",
        reason="It helps your care team understand what you want more of.",
        aliases=("good day", "a good day"),
    ),
    Question(
        id=QuestionId.GOALS,
        section="My goals",
        kind=Kind.GOALS,
        text=(
            "What is one thing you would like to be able to do, or change, in the next few months?"
        ),
        reason="Your plan is built around goals that you choose.",
        aliases=("goal", "goals"),
    ),
    Question(
        id=QuestionId.TOPICS,
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
        id=QuestionId.QUESTIONS,
        section="My questions",
        kind=Kind.FREE_TEXT,
        text="What questions would you like to ask at your appointment? You can SKIP this one.",
        reason="So your questions are not forgotten on the day.",
        aliases=("question", "questions", "my questions"),
    ),
    Question(
        id=QuestionId.SUPPORT,
        section="Who supports me",
        kind=Kind.FREE_TEXT,
        text=(
            "Who helps you day to day? Would you like someone to come with you to the appointment?"
        ),
        reason="Knowing who helps you means your plan can include them.",
        aliases=("support", "who helps me", "who supports me", "helpers"),
    ),
    Question(
        id=QuestionId.CONFIDENCE,
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
        id=QuestionId.NEEDS,
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
        id=QuestionId.REVIEW_INTERVAL,
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
        id=QuestionId.READBACK,
        section="Checked by me",
        kind=Kind.CONFIRM,
        text="Reply YES if this is right, or the number of a part you want to change.",
        reason="So you can check we have it right before anyone reads it.",
    ),
    Question(
        id=QuestionId.CONSENT_SHARE,
        section="Consent to share",
        kind=Kind.YES_NO,
        text="May we share your answers with your care team before your appointment?",
        reason="We only share your answers if you say yes.",
        options=YES_NO,
    ),
)

PREPARE = Questionnaire(
    id="prepare",
    version="1",
    title="Getting ready for your care planning appointment",
    questions=PREPARATION_QUESTIONS,
)
"""Today's preparation questions (the store's default questionnaire of a preparation)."""

_SHARED = {question.id: question for question in PREPARATION_QUESTIONS}

REVIEW_QUESTIONS: tuple[Question, ...] = (
    _SHARED[QuestionId.IDENTITY],
    _SHARED[QuestionId.CONSENT_START],
    Question(
        id=QuestionId.GOAL_PROGRESS,
        section="How my goals are going",
        kind=Kind.GOAL_REVIEW,
        text=(
            'Your goal: "{goal}". How is it going? Reply with a number, '
            "and tell me what helped or got in the way."
        ),
        reason="So you and your care team can see what is working, in your own words.",
        options=GOAL_PROGRESS,
        option_words=GOAL_PROGRESS_WORDS,
        aliases=("goal", "goals", "my goals", "progress"),
    ),
    Question(
        id=QuestionId.CHANGES,
        section="What has changed",
        kind=Kind.FREE_TEXT,
        text="What has changed for you since your last appointment? You can SKIP this one.",
        reason="Changes in your life or health may change what your plan needs.",
        aliases=("changes", "what has changed", "what's changed"),
    ),
    _SHARED[QuestionId.CONFIDENCE],
    Question(
        id=QuestionId.CONTACT,
        section="Would like to talk",
        kind=Kind.CHOICE,
        text="Would you like an appointment or a phone call to talk about your plan?",
        reason="So the practice can get in touch if you would like to talk.",
        options=CONTACT,
        option_words=(
            ("appointment", "see someone", "see the doctor", "see the nurse", "come in"),
            ("call", "phone", "ring"),
            ("no", "not now", "nope", "no thanks", "not at the moment", "i'm fine", "im fine"),
        ),
        aliases=("appointment", "call", "contact"),
    ),
    Question(
        id=QuestionId.GOALS,
        section="New goals",
        kind=Kind.GOALS,
        text="Is there a new goal you would like to work on? You can SKIP this one.",
        reason="Your plan can change as your goals do.",
        aliases=("new goal", "new goals"),
    ),
    Question(
        id=QuestionId.REVIEW_INTERVAL,
        section="Next review",
        kind=Kind.CHOICE,
        text="When would you like your next review?",
        reason="Your plan is reviewed as often as you choose.",
        options=REVIEW_INTERVALS,
        option_words=_SHARED[QuestionId.REVIEW_INTERVAL].option_words,
        aliases=("review", "next review", "how often"),
    ),
    _SHARED[QuestionId.READBACK],
    Question(
        id=QuestionId.CONSENT_SHARE,
        section="Consent to share",
        kind=Kind.YES_NO,
        text="May we share your review with your care team?",
        reason="We only share your answers if you say yes.",
        options=YES_NO,
    ),
)

REVIEW = Questionnaire(
    id="review",
    version="1",
    title="Reviewing your care plan",
    questions=REVIEW_QUESTIONS,
)
"""The review conversation: how each goal is going, what changed, confidence, next steps."""

QUESTIONNAIRES: dict[tuple[str, str], Questionnaire] = {
    (each.id, each.version): each for each in (PREPARE, REVIEW)
}
"""Every questionnaire a preparation may name, by (id, version); old versions stay here."""


def latest(questionnaire_id: str) -> Questionnaire:
    """Return the newest version of a questionnaire (KeyError if there is none by that id)."""
    versions = [each for (name, _), each in QUESTIONNAIRES.items() if name == questionnaire_id]
    if not versions:
        raise KeyError(questionnaire_id)
    return max(versions, key=lambda each: int(each.version))


QUESTIONNAIRE_IDS = tuple(dict.fromkeys(name for name, _ in QUESTIONNAIRES))
"""The questionnaires a conversation may ask, by id (``prepare``, ``review``)."""
ALL_QUESTION_IDS = tuple(
    dict.fromkeys(question.id for each in QUESTIONNAIRES.values() for question in each.questions)
)
"""Every question id of every questionnaire (the Rasa slots and ask actions), in order."""


def questionnaire(questionnaire_id: str, version: str) -> Questionnaire:
    """Return the questionnaire with this id and version (KeyError if there is none)."""
    return QUESTIONNAIRES[(questionnaire_id, version)]


def question(question_id: str) -> Question:
    """Return a question of the preparation questionnaire."""
    return PREPARE.question(question_id)


def position(question_id: str) -> int:
    """Return the 1-based position of a question in the preparation conversation."""
    return PREPARE.position(question_id)
