"""The rules of the preparation conversation, the same for every channel.

Each function takes where the conversation is (a ``Conversation``), and where it
needs them the preparation in the store (a session and the row; None for a
stranger) and the patient's text. It writes what the reply gave to the store and
returns a ``Turn``: what was recorded, what to say (plain ``Message`` values with
their options) and where the conversation is now. A channel (the Rasa actions, web
chat, the review conversation) only translates between its own state and these.

One turn of the conversation:

- ``start``: greet, or welcome back, and load the answers so far from the store;
- ``reply``: read the reply to the question being asked (the date-of-birth check,
  goals, the read-back and every other question), store it, and signpost any
  safety concern first;
- ``skip``, ``go_back``, ``explain`` (WHY), ``pause``, ``help_with_commands``: the commands;
- ``finish``: when nothing is left to ask;
- ``questions_to_ask``, ``next_question`` and ``ask``: which question comes next,
  and how it is put ("Question 3 of 14: ...").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from careprep.patients.identity import check_date_of_birth, is_locked
from careprep.preparation import messages
from careprep.preparation.answers import (
    NOTHING_WORDS,
    Unreadable,
    read_answer,
    read_date_of_birth,
    read_goal_progress,
    read_yes_no,
)
from careprep.preparation.commands import normalise, parse_command
from careprep.preparation.progress import (
    SKIPPED,
    answers_so_far,
    goals_under_review,
    introduction,
    record_answer,
    record_complete,
    record_pause,
    record_skip,
    restart_after_decline,
    use_questionnaire,
)
from careprep.preparation.questionnaire import (
    CONTACT,
    MAX_GOALS,
    PREPARE,
    Kind,
    Question,
    QuestionId,
    Questionnaire,
    latest,
    numbered,
)
from careprep.record import build_record, describe
from careprep.record.summary import patient_copy
from careprep.safety import Concern, Level
from careprep.safety.flags import raise_flag
from careprep.store.models import Preparation, PreparationStatus

STOPPING_LEVELS = (Level.EMERGENCY, Level.MENTAL_HEALTH, Level.SAFEGUARDING)
"""After these, the next question waits until the patient writes again."""


class Channel(str, Enum):
    """How the patient reached us, which decides how they are checked."""

    SMS = "sms"
    """Known only by their phone number: the date of birth is checked first."""
    LINK = "link"
    """They opened their own invitation link (web chat, Rasa's REST channel)."""

    @property
    def stored(self) -> str:
        """The name the store gives answers that came this way: "sms" or "web"."""
        return "sms" if self is Channel.SMS else "web"


@dataclass(frozen=True)
class Message:
    """Something to say: the text and, for a choice, the options to offer (buttons)."""

    text: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recorded:
    """What a turn wrote to the store: the question and its value (``SKIPPED`` for a skip)."""

    question_id: str
    value: Any


@dataclass(frozen=True)
class Conversation:
    """Where a conversation is.

    Attributes:
        answers: each question's answer so far by question id: None where it is still
            to be asked, ``SKIPPED``, or the value (the identity check: True once passed).
        goals: the goals given so far while the goals question is being asked; in a
            review, while its goals are gone through, how each has gone so far.
        goals_to_review: in a review, the patient's goals to ask about, in their words.
        asking: the id of the question being asked, None outside the questions.
        channel: how the patient reached us.
        invited: whether the patient has a preparation (a stranger is asked nothing).
        identity_locked: the date-of-birth check failed too often; nothing is asked.
        safety_pause: a serious concern was signposted; the questions wait for the patient.
        questionnaire: the questions asked.

    """

    answers: Mapping[str, Any] = field(default_factory=dict)
    goals: tuple[Any, ...] = ()
    goals_to_review: tuple[str, ...] = ()
    asking: str | None = None
    channel: Channel = Channel.LINK
    invited: bool = False
    identity_locked: bool = False
    safety_pause: bool = False
    questionnaire: Questionnaire = PREPARE

    def answer(self, question_id: str) -> Any:
        """Return the answer so far to a question (None if it is still to be asked)."""
        return self.answers.get(question_id)

    def with_answers(self, changes: Mapping[str, Any]) -> Conversation:
        """Return the conversation with some answers set or cleared."""
        return replace(self, answers={**self.answers, **changes})

    @property
    def asked(self) -> Question | None:
        """The question being asked, if any."""
        if self.asking in self.questionnaire.ids:
            return self.questionnaire.question(self.asking)
        return None


@dataclass(frozen=True)
class Turn:
    """The outcome of one turn: where the conversation is, what to say, what was stored."""

    conversation: Conversation
    said: tuple[Message, ...] = ()
    recorded: Recorded | None = None


def _say(conversation: Conversation, *texts: str) -> Turn:
    return Turn(conversation, tuple(Message(text) for text in texts))


def questions_to_ask(conversation: Conversation) -> tuple[str, ...]:
    """Return the questions of this conversation in order; the first unanswered one is next.

    Nothing is asked without an invitation, after a no at the start, after a
    serious safety concern (until the patient writes again) or after a failed
    identity check. By SMS the date of birth is checked first.
    """
    if (
        not conversation.invited
        or conversation.answer(QuestionId.CONSENT_START) is False
        or conversation.safety_pause
        or conversation.identity_locked
    ):
        return ()
    flow = conversation.questionnaire.flow_ids
    if conversation.channel is Channel.SMS and conversation.answer(QuestionId.IDENTITY) is not True:
        return (QuestionId.IDENTITY, *flow)
    return flow


def next_question(conversation: Conversation) -> str | None:
    """Return the id of the question to ask next, or None when the conversation is done."""
    for question_id in questions_to_ask(conversation):
        if conversation.answer(question_id) is None:
            return question_id
    return None


def readback_summary(conversation: Conversation) -> str:
    """Return the numbered summary read back to the patient before they confirm it."""
    lines = [
        f"{number} {question.section}: {describe(question, conversation.answer(question.id))}"
        for number, question in enumerate(conversation.questionnaire.editable, start=1)
    ]
    return "\n".join([messages.READBACK_HEADING, *lines])


def ask(conversation: Conversation, question_id: str) -> Message:
    """Return a question as the patient sees it, with its progress and its options."""
    questionnaire = conversation.questionnaire
    asked = questionnaire.question(question_id)
    text = asked.text
    if asked.kind is Kind.GOALS and conversation.goals:
        text = messages.ANYTHING_ELSE_GOAL
    if asked.kind is Kind.GOAL_REVIEW:
        text = _goal_to_review(conversation, asked)
    if asked.kind is Kind.CONFIRM:
        text = readback_summary(conversation) + "\n" + text
    if asked.kind is Kind.MULTI_CHOICE:
        text += "\n" + numbered(asked.options)
    if asked.in_flow:
        text = messages.QUESTION_WITH_PROGRESS.format(
            number=questionnaire.position(asked.id), total=len(questionnaire.flow), text=text
        )
    options = asked.options if asked.kind in (Kind.YES_NO, Kind.CHOICE) else ()
    return Message(text, options)


def _goal_to_review(conversation: Conversation, asked: Question) -> str:
    """Return the question about the next goal under review, with its options numbered."""
    number, total = len(conversation.goals) + 1, len(conversation.goals_to_review)
    goal = conversation.goals_to_review[min(number, total) - 1] if total else ""
    counted = f"Goal {number} of {total}. " if total > 1 else ""
    return counted + asked.text.format(goal=goal) + "\n" + numbered(asked.options)


def _changed(conversation: Conversation, question_id: str) -> dict[str, Any]:
    """Return the answers to clear because this one changed: a read-back already confirmed."""
    questionnaire = conversation.questionnaire
    if (
        questionnaire.question(question_id) in questionnaire.editable
        and conversation.answer(QuestionId.READBACK) is not None
    ):
        return {QuestionId.READBACK: None}
    return {}


def _ask_again(conversation: Conversation, question_id: str) -> Conversation:
    """Return the conversation with an earlier answer cleared, so that it is asked again."""
    cleared = conversation.with_answers({question_id: None, **_changed(conversation, question_id)})
    if conversation.questionnaire.question(question_id).kind in (Kind.GOALS, Kind.GOAL_REVIEW):
        cleared = replace(cleared, goals=())
    return cleared


def start(
    session: Session, preparation: Preparation | None, conversation: Conversation, zone: str
) -> Turn:
    """Greet the patient, or welcome them back, and load their answers so far from the store.

    ``zone`` is the time zone the appointment is told in.
    """
    by_sms = conversation.channel is Channel.SMS
    if preparation is None:
        stranger = messages.NOT_FOUND_BY_SMS if by_sms else messages.NO_INVITATION
        return _say(replace(conversation, invited=False), stranger)
    if by_sms and is_locked(preparation):
        locked = replace(conversation, invited=True, identity_locked=True)
        return _say(locked, messages.IDENTITY_LOCKED)
    restart_after_decline(session, preparation)
    if preparation.questionnaire_id != conversation.questionnaire.id:
        conversation = replace(conversation, questionnaire=latest(preparation.questionnaire_id))
    use_questionnaire(preparation, conversation.questionnaire)
    confirmed = preparation.identity_verified_at is not None
    said: list[str] = []
    if by_sms and not confirmed:
        said.append(messages.SMS_GREETING)
    elif preparation.status == PreparationStatus.NOT_STARTED and not preparation.answers:
        said.append(introduction(preparation, zone))
    elif preparation.status != PreparationStatus.COMPLETE:
        said.append(messages.WELCOME_BACK)
    answers = answers_so_far(session, preparation)
    goals = answers.get(QuestionId.GOALS)
    partial: tuple[Any, ...] = tuple(goals) if isinstance(goals, list) else ()
    to_review: tuple[str, ...] = ()
    if QuestionId.GOAL_PROGRESS in conversation.questionnaire.ids:
        to_review = tuple(goals_under_review(session, preparation))
        progress = answers.get(QuestionId.GOAL_PROGRESS)
        if not to_review and progress is None:
            answers[QuestionId.GOAL_PROGRESS] = []  # no goals to go through
        elif isinstance(progress, list) and len(progress) < len(to_review):
            answers[QuestionId.GOAL_PROGRESS], partial = None, tuple(progress)
    loaded = replace(
        conversation,
        answers={**answers, QuestionId.IDENTITY: True if confirmed else None},
        goals=partial,
        goals_to_review=to_review,
        invited=True,
        identity_locked=False,
        safety_pause=False,
    )
    return _say(loaded, *said)


def respond_to_concerns(
    session: Session,
    preparation: Preparation | None,
    concerns: Sequence[Concern],
    text: str,
    question_id: str | None,
) -> Message:
    """Return the signposting for every concern, most urgent first; flag each for the practice."""
    if preparation is not None:
        for concern in concerns:
            raise_flag(
                session,
                preparation,
                concern.level.value,
                text,
                question_id,
                concern.source,
                concern.versions,
            )
    return Message(messages.safety_reply([concern.level.value for concern in concerns]))


def reply(
    session: Session,
    preparation: Preparation | None,
    conversation: Conversation,
    text: str,
    zone: str,
    concerns: Sequence[Concern] = (),
) -> Turn:
    """Take the patient's reply to the question being asked, and store it if it answers it.

    A safety concern found in the reply is signposted first and flagged; the reply
    is still stored when it answers the question, without a "please reply ..."
    hint when it does not. After a serious concern the questions wait.
    """
    asked = conversation.asked
    if asked is None:
        return Turn(conversation)
    signposting = (
        (respond_to_concerns(session, preparation, concerns, text, conversation.asking),)
        if concerns
        else ()
    )
    turn = _read_reply(session, preparation, conversation, asked, text, zone, quiet=bool(concerns))
    after = turn.conversation
    if any(concern.level in STOPPING_LEVELS for concern in concerns):
        after = replace(after, safety_pause=True)
    return Turn(after, signposting + turn.said, turn.recorded)


def _read_reply(
    session: Session,
    preparation: Preparation | None,
    conversation: Conversation,
    asked: Question,
    text: str,
    zone: str,
    quiet: bool,
) -> Turn:
    if preparation is None:
        return Turn(conversation.with_answers({asked.id: None}))
    if asked.kind is Kind.DATE and conversation.channel is not Channel.SMS:
        return _identity_from_the_link(preparation, conversation, zone)
    if asked.kind is Kind.DATE:
        return _check_identity(session, preparation, conversation, text, zone, quiet)
    if asked.kind is Kind.GOALS:
        return _take_goal(session, preparation, conversation, asked, text, quiet)
    if asked.kind is Kind.GOAL_REVIEW:
        return _take_goal_progress(session, preparation, conversation, asked, text, quiet)
    if asked.kind is Kind.CONFIRM:
        return _check_readback(session, preparation, conversation, text)
    try:
        value = read_answer(asked, text)
    except Unreadable as problem:
        return _not_read(conversation, asked, f"{problem} {asked.reason}", quiet)
    record_answer(session, preparation, asked.id, value, text, conversation.channel.stored)
    answered = conversation.with_answers({asked.id: value, **_changed(conversation, asked.id)})
    return Turn(answered, recorded=Recorded(asked.id, value))


def _not_read(conversation: Conversation, asked: Question, hint: str, quiet: bool) -> Turn:
    """Ask again a question whose reply could not be read; say why unless a concern was."""
    unread = conversation.with_answers({asked.id: None})
    return Turn(unread) if quiet else _say(unread, hint)


def _identity_from_the_link(
    preparation: Preparation, conversation: Conversation, zone: str
) -> Turn:
    """Carry on in the web chat a conversation whose SMS side was still asking who this is.

    The web chat checks the date of birth itself, before it sends anything to the
    assistant, so the question asked by SMS is answered by that check, not by this reply.
    """
    confirmed = True if preparation.identity_verified_at is not None else None
    return _say(
        conversation.with_answers({QuestionId.IDENTITY: confirmed}),
        messages.WELCOME_BACK if preparation.answers else introduction(preparation, zone),
    )


def _check_identity(
    session: Session,
    preparation: Preparation,
    conversation: Conversation,
    text: str,
    zone: str,
    quiet: bool,
) -> Turn:
    """Check the date of birth; introduce the appointment only once it matches."""
    unconfirmed = conversation.with_answers({QuestionId.IDENTITY: None})
    try:
        born = read_date_of_birth(text)
    except Unreadable as problem:
        return Turn(unconfirmed) if quiet else _say(unconfirmed, str(problem))
    result = check_date_of_birth(session, preparation, born)
    if result.confirmed:
        return _say(
            conversation.with_answers({QuestionId.IDENTITY: True}),
            messages.IDENTITY_CONFIRMED,
            messages.WELCOME_BACK if preparation.answers else introduction(preparation, zone),
        )
    if result.locked:
        return _say(replace(unconfirmed, identity_locked=True), messages.IDENTITY_LOCKED)
    return _say(
        unconfirmed,
        messages.identity_wrong(result.tries_left),
    )


def _take_goal(
    session: Session,
    preparation: Preparation,
    conversation: Conversation,
    asked: Question,
    text: str,
    quiet: bool,
) -> Turn:
    """Collect one to three goals, each stored as it is given; NO after one ends the list."""
    if conversation.goals and normalise(text) in NOTHING_WORDS:
        return Turn(conversation.with_answers({asked.id: list(conversation.goals)}))
    try:
        goal = read_answer(asked, text)
    except Unreadable as problem:
        return _not_read(conversation, asked, f"{problem} {asked.reason}", quiet)
    goals = [*conversation.goals, str(goal)]
    record_answer(session, preparation, asked.id, goals, text, conversation.channel.stored)
    done = goals if len(goals) >= MAX_GOALS else None
    collected = replace(
        conversation.with_answers({asked.id: done, **_changed(conversation, asked.id)}),
        goals=tuple(goals),
    )
    return Turn(collected, recorded=Recorded(asked.id, goals))


def _take_goal_progress(
    session: Session,
    preparation: Preparation,
    conversation: Conversation,
    asked: Question,
    text: str,
    quiet: bool,
) -> Turn:
    """Take how one goal under review is going; stored as each is given, then the next goal."""
    try:
        entry = read_goal_progress(text, asked)
    except Unreadable as problem:
        return _not_read(conversation, asked, str(problem), quiet)
    goal = conversation.goals_to_review[len(conversation.goals)]
    entries = [*conversation.goals, {"goal": goal, **entry}]
    record_answer(session, preparation, asked.id, entries, text, conversation.channel.stored)
    done = len(entries) >= len(conversation.goals_to_review)
    reviewed = replace(
        conversation.with_answers(
            {asked.id: entries if done else None, **_changed(conversation, asked.id)}
        ),
        goals=() if done else tuple(entries),
    )
    return Turn(reviewed, recorded=Recorded(asked.id, entries))


def _check_readback(
    session: Session, preparation: Preparation, conversation: Conversation, text: str
) -> Turn:
    """Confirm the summary with YES, or ask again the part named by its number or name."""
    try:
        confirmed = read_yes_no(text)
    except Unreadable:
        confirmed = False
    if confirmed:
        record_answer(
            session, preparation, QuestionId.READBACK, True, text, conversation.channel.stored
        )
        return Turn(
            conversation.with_answers({QuestionId.READBACK: True}),
            recorded=Recorded(QuestionId.READBACK, True),
        )
    editable = conversation.questionnaire.editable
    folded = normalise(text)
    target = conversation.questionnaire.find_by_alias(folded)
    if folded.isdigit() and 1 <= int(folded) <= len(editable):
        target = editable[int(folded) - 1]
    unconfirmed = conversation.with_answers({QuestionId.READBACK: None})
    if target is None:
        return _say(unconfirmed, messages.READBACK_UNCLEAR.format(parts=len(editable)))
    return _say(
        _ask_again(unconfirmed, target.id),
        messages.CHANGE_PART.format(section=target.section.lower()),
    )


def skip(session: Session, preparation: Preparation | None, conversation: Conversation) -> Turn:
    """SKIP: record the question being asked as skipped and move on.

    Goals already given count as the answer; skipping the read-back confirms it.
    """
    asked = conversation.asked
    if asked is None:
        return Turn(conversation)
    if not asked.skippable:
        return _say(conversation, messages.CANT_SKIP)
    if preparation is None:
        return Turn(conversation)
    if asked.kind is Kind.GOALS and conversation.goals:
        return Turn(conversation.with_answers({asked.id: list(conversation.goals)}))
    if asked.kind is Kind.GOAL_REVIEW and conversation.goals:
        return Turn(
            replace(conversation.with_answers({asked.id: list(conversation.goals)}), goals=())
        )
    if asked.kind is Kind.CONFIRM:
        record_answer(session, preparation, asked.id, True, "SKIP", conversation.channel.stored)
        return Turn(conversation.with_answers({asked.id: True}), recorded=Recorded(asked.id, True))
    record_skip(session, preparation, asked.id, conversation.channel.stored)
    skipped = conversation.with_answers({asked.id: SKIPPED, **_changed(conversation, asked.id)})
    if asked.kind in (Kind.GOALS, Kind.GOAL_REVIEW):
        skipped = replace(skipped, goals=())
    return Turn(skipped, recorded=Recorded(asked.id, SKIPPED))


def _asked_before(conversation: Conversation) -> Iterable[str]:
    """Return the questions asked before the current one (all of them outside the questions)."""
    flow = conversation.questionnaire.flow_ids
    if conversation.asking is None:
        return flow
    return flow[: flow.index(conversation.asking)] if conversation.asking in flow else ()


def go_back(conversation: Conversation, text: str | None) -> Turn:
    """BACK or "change my goals": clear the named answer, or the one before, to ask it again."""
    questionnaire = conversation.questionnaire
    command = parse_command(text, questionnaire)
    answered = [qid for qid in questionnaire.flow_ids if conversation.answer(qid) is not None]
    target = command.target if command else None
    if target is None:
        earlier = [qid for qid in _asked_before(conversation) if qid in answered]
        target = earlier[-1] if earlier else None
    if target is None:
        return _say(conversation, messages.NOTHING_TO_GO_BACK_TO)
    if target not in answered:
        return _say(conversation, messages.NOT_REACHED_YET)
    back = messages.BACK_TO.format(
        number=questionnaire.position(target), total=len(questionnaire.flow)
    )
    return _say(_ask_again(conversation, target), back)


def explain(conversation: Conversation) -> Turn:
    """WHY: say in one line why the question is asked (or what the preparation is for)."""
    asked = conversation.asked
    return _say(conversation, asked.reason if asked else messages.WHY_PREPARE)


def help_with_commands(conversation: Conversation) -> Turn:
    """HELP: list what the patient can reply at any time, and who to contact."""
    return _say(conversation, messages.HELP)


def send_summary(
    session: Session, preparation: Preparation | None, conversation: Conversation, zone: str
) -> Turn:
    """SUMMARY: the patient's own copy of their answers, once it is known to be them."""
    if preparation is None or conversation.identity_locked:
        return Turn(conversation)
    if conversation.channel is Channel.SMS and conversation.answer(QuestionId.IDENTITY) is not True:
        return _say(conversation, messages.SUMMARY_AFTER_IDENTITY)
    record = build_record(session, preparation.appointment_id, zone, compare=False)
    return _say(conversation, patient_copy(record)) if record else Turn(conversation)


def pause(preparation: Preparation | None, conversation: Conversation) -> Turn:
    """PAUSE: note the pause in the store and say how to carry on; the progress is kept."""
    if preparation is not None:
        record_pause(preparation)
    flow = conversation.questionnaire.flow_ids
    where = (
        f" from question {conversation.questionnaire.position(conversation.asking)}"
        if conversation.asking in flow
        else ""
    )
    return _say(conversation, messages.PAUSED.format(where=where))


def finish(preparation: Preparation | None, conversation: Conversation) -> Turn:
    """When nothing is left to ask: thank the patient, respect a no, or wait after a concern."""
    if conversation.identity_locked:
        return Turn(conversation)
    if conversation.safety_pause:
        return _say(replace(conversation, safety_pause=False), messages.SAFETY_PAUSE)
    if preparation is None:
        return Turn(conversation)
    if preparation.status == PreparationStatus.DECLINED:
        return _say(conversation, messages.DECLINED)
    if record_complete(preparation):
        return _say(conversation, *_thanks(preparation, conversation))
    return _say(conversation, messages.ALREADY_COMPLETE)


def _thanks(preparation: Preparation, conversation: Conversation) -> list[str]:
    """Return the thanks at the end: what happens to the answers, and any contact asked for."""
    shared = bool(preparation.consent_to_share)
    if conversation.questionnaire.id == PREPARE.id:
        return [messages.COMPLETE_SHARED if shared else messages.COMPLETE_PRIVATE]
    said = [messages.REVIEW_COMPLETE_SHARED if shared else messages.REVIEW_COMPLETE_PRIVATE]
    wanted = conversation.answer(QuestionId.CONTACT)
    if wanted in CONTACT[:2]:
        said.append(messages.REVIEW_ASKED_TO_TALK.format(what=str(wanted).lower()))
    return said


_PROGRESS = re.compile(
    "^"
    + re.escape(messages.QUESTION_WITH_PROGRESS)
    .replace(re.escape("{number}"), r"(?P<number>\d+)")
    .replace(re.escape("{total}"), r"\d+")
    .replace(re.escape("{text}"), "")
)


def question_asked(text: str, questionnaire: Questionnaire) -> Question | None:
    """Return the question a message asks, read from its "Question N of M" progress."""
    match = _PROGRESS.match(text)
    if match is None:
        return None
    number = int(match.group("number"))
    flow = questionnaire.flow
    return flow[number - 1] if 1 <= number <= len(flow) else None
