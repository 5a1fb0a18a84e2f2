"""The rules of the conversation, without Rasa: what the patient sees and what is stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.preparation import messages
from careprep.preparation.conversation import (
    Channel,
    Conversation,
    Message,
    Recorded,
    Turn,
    ask,
    explain,
    finish,
    go_back,
    help_with_commands,
    next_question,
    pause,
    reply,
    send_summary,
    skip,
    start,
)
from careprep.preparation.progress import SKIPPED, find_by_sender
from careprep.preparation.questionnaire import PREPARE, QUESTIONNAIRES, QuestionId
from careprep.record import build_record, to_text
from careprep.safety import Concern, Level
from careprep.store import session_scope
from careprep.store.models import Answer, Goal, Preparation, PreparationStatus, SafetyFlag
from tests.factories import book

ZONE = "Europe/London"
Q = QuestionId
HAPPY_PATH = [
    (Q.CONSENT_START, "yes"),
    (Q.WHAT_MATTERS, "My grandchildren and my garden"),
    (Q.GOING_WELL, "I walk to church every Sunday"),
    (Q.NOT_GOING_WELL, "My knees hurt on the stairs"),
    (Q.GOOD_DAY, "No pain and a visit from my son"),
    (Q.GOALS, "Walk to the shops without stopping"),
    (Q.GOALS, "Sleep through the night"),
    (Q.GOALS, "no"),
    (Q.TOPICS, "2 4 my knees"),
    (Q.QUESTIONS, "Can I take ibuprofen with my tablets?"),
    (Q.SUPPORT, "My daughter Jo."),
    (Q.CONFIDENCE, "six"),
    (Q.NEEDS, "4"),
    (Q.REVIEW_INTERVAL, "Every 6 months"),
    (Q.READBACK, "yes"),
    (Q.CONSENT_SHARE, "yes"),
]


def progress(question_id: str) -> str:
    return f"Question {PREPARE.position(question_id)} of {len(PREPARE.flow)}: "


class Patient:
    """Drives the core as a channel does: one transaction per turn, then the next question."""

    def __init__(self, database_url: str, token: str, channel: Channel = Channel.LINK) -> None:
        self.database_url = database_url
        self.token = token
        self.conversation = Conversation(channel=channel)
        self.last: Turn | None = None

    def _run(self, work: Callable[[Session, Preparation | None], Turn]) -> Turn:
        with session_scope(self.database_url) as session:
            self.last = work(session, find_by_sender(session, self.token))
        return self.last

    def _then_ask(self, turn: Turn) -> list[Message]:
        """Take the turn, then ask the next question, or finish when there is none."""
        said = list(turn.said)
        self.conversation = turn.conversation
        following = next_question(self.conversation)
        if following is None:
            ending = self._run(lambda session, row: finish(row, self.conversation))
            self.conversation = replace(ending.conversation, asking=None)
            return [*said, *ending.said]
        self.conversation = replace(self.conversation, asking=following)
        return [*said, ask(self.conversation, following)]

    def start(self) -> list[str]:
        turn = self._run(lambda session, row: start(session, row, self.conversation, ZONE))
        return [message.text for message in self._then_ask(turn)]

    def send(self, text: str, *concerns: Concern) -> list[str]:
        turn = self._run(
            lambda session, row: reply(session, row, self.conversation, text, ZONE, concerns)
        )
        return [message.text for message in self._then_ask(turn)]

    def skip(self) -> list[str]:
        turn = self._run(lambda session, row: skip(session, row, self.conversation))
        return [message.text for message in self._then_ask(turn)]

    def back(self, text: str) -> list[str]:
        return [message.text for message in self._then_ask(go_back(self.conversation, text))]

    def why(self) -> list[str]:
        return [message.text for message in self._then_ask(explain(self.conversation))]

    def help(self) -> list[str]:
        turn = help_with_commands(self.conversation)
        return [message.text for message in self._then_ask(turn)]

    def summary(self) -> list[str]:
        turn = self._run(lambda session, row: send_summary(session, row, self.conversation, ZONE))
        return [message.text for message in self._then_ask(turn)]

    def pause(self) -> list[str]:
        turn = self._run(lambda session, row: pause(row, self.conversation))
        self.conversation = replace(turn.conversation, asking=None)
        return [message.text for message in turn.said]

    def answer_until(self, stop_before: str) -> None:
        for question_id, text in HAPPY_PATH:
            if question_id == stop_before:
                return
            self.send(text)


@pytest.fixture
def token(database_url: str) -> str:
    with session_scope(database_url) as session:
        return str(book(session).preparation.invite_token)


@pytest.fixture
def patient(database_url: str, token: str) -> Patient:
    return Patient(database_url, token)


def answers(database_url: str) -> dict[str, Answer]:
    with session_scope(database_url) as session:
        rows = session.execute(select(Answer)).scalars().all()
        session.expunge_all()
        return {row.question_id: row for row in rows}


def goal_table(database_url: str) -> list[str]:
    with session_scope(database_url) as session:
        return list(session.execute(select(Goal.text).order_by(Goal.position)).scalars())


def preparation_row(database_url: str) -> Preparation:
    with session_scope(database_url) as session:
        row = session.execute(select(Preparation)).scalar_one()
        session.expunge(row)
        return row


def test_the_first_contact_introduces_then_asks_question_1_with_its_options(
    patient: Patient,
) -> None:
    said = patient.start()
    assert "care planning appointment" in said[0] and "not read in real time" in said[0]
    assert said[1] == progress(Q.CONSENT_START) + "Are you happy to go ahead?"
    assert ask(patient.conversation, Q.CONSENT_START).options == ("Yes", "No")


def test_an_answer_is_stored_as_sent_and_the_next_question_follows(
    patient: Patient, database_url: str
) -> None:
    patient.start()
    patient.send("yes")
    said = patient.send("  My dog, Rex ")
    assert said == [progress(Q.GOING_WELL) + PREPARE.question(Q.GOING_WELL).text]
    assert patient.last is not None
    assert patient.last.recorded == Recorded(Q.WHAT_MATTERS, "My dog, Rex")
    stored = answers(database_url)[Q.WHAT_MATTERS]
    assert (stored.value, stored.raw_text) == ("My dog, Rex", "  My dog, Rex ")


def test_confidence_outside_0_to_10_is_asked_again_with_the_reason(
    patient: Patient, database_url: str
) -> None:
    patient.start()
    patient.answer_until(Q.CONFIDENCE)
    said = patient.send("eleven")
    assert said == [
        "Please reply with one number from 0 to 10, for example 6. "
        "It shows how much support you may want. There is no right or wrong answer.",
        ask(patient.conversation, Q.CONFIDENCE).text,
    ]
    assert Q.CONFIDENCE not in answers(database_url)
    said = patient.send("Seven")
    assert said[-1].startswith(progress(Q.NEEDS))
    assert answers(database_url)[Q.CONFIDENCE].value == 7


def test_goals_are_collected_one_at_a_time_until_no(patient: Patient, database_url: str) -> None:
    patient.start()
    patient.answer_until(Q.GOALS)
    said = patient.send("Walk to the shops")
    assert said == [progress(Q.GOALS) + messages.ANYTHING_ELSE_GOAL]
    assert goal_table(database_url) == ["Walk to the shops"]
    said = patient.send("no")
    assert said[-1].startswith(progress(Q.TOPICS))
    assert patient.conversation.answer(Q.GOALS) == ["Walk to the shops"]
    assert goal_table(database_url) == ["Walk to the shops"]


def test_the_third_goal_ends_the_goals_question(patient: Patient, database_url: str) -> None:
    patient.start()
    patient.answer_until(Q.GOALS)
    for goal in ("Walk to the shops", "Sleep better"):
        patient.send(goal)
    said = patient.send("  Swim again ")
    assert said[-1].startswith(progress(Q.TOPICS))
    assert goal_table(database_url) == ["Walk to the shops", "Sleep better", "Swim again"]


def test_the_topics_keep_the_patients_words_exactly(patient: Patient, database_url: str) -> None:
    words = "Can we talk about whether my water tablets cause the night time toilet trips"
    patient.start()
    patient.answer_until(Q.TOPICS)
    patient.send(words)
    stored = answers(database_url)[Q.TOPICS]
    assert stored.value == [words] and stored.raw_text == words


def test_skip_is_recorded_and_moves_on(patient: Patient, database_url: str) -> None:
    patient.start()
    patient.answer_until(Q.GOOD_DAY)
    said = patient.skip()
    assert said == [progress(Q.GOALS) + PREPARE.question(Q.GOALS).text]
    assert patient.conversation.answer(Q.GOOD_DAY) == SKIPPED
    assert answers(database_url)[Q.GOOD_DAY].skipped is True


def test_consent_to_start_cannot_be_skipped(patient: Patient, database_url: str) -> None:
    patient.start()
    said = patient.skip()
    assert said == [messages.CANT_SKIP, ask(patient.conversation, Q.CONSENT_START).text]
    assert answers(database_url) == {}


def test_skipping_goals_after_one_keeps_it(patient: Patient, database_url: str) -> None:
    patient.start()
    patient.answer_until(Q.GOALS)
    patient.send("Walk to the shops")
    said = patient.skip()
    assert said[-1].startswith(progress(Q.TOPICS))
    assert answers(database_url)[Q.GOALS].skipped is False
    assert goal_table(database_url) == ["Walk to the shops"]


def test_skipping_the_readback_confirms_it(patient: Patient, database_url: str) -> None:
    patient.start()
    patient.answer_until(Q.READBACK)
    said = patient.skip()
    assert said[-1].startswith(progress(Q.CONSENT_SHARE))
    assert answers(database_url)[Q.READBACK].value is True


def test_back_asks_the_question_before_again(patient: Patient, database_url: str) -> None:
    patient.start()
    patient.answer_until(Q.GOING_WELL)
    said = patient.back("back")
    assert said == [
        f"OK, back to question {PREPARE.position(Q.WHAT_MATTERS)} of 14.",
        ask(patient.conversation, Q.WHAT_MATTERS).text,
    ]
    said = patient.send("A different answer")
    assert said[-1].startswith(progress(Q.GOING_WELL))
    assert answers(database_url)[Q.WHAT_MATTERS].value == "A different answer"


def test_change_my_goals_clears_the_goals_to_give_them_again(patient: Patient) -> None:
    patient.start()
    patient.answer_until(Q.SUPPORT)
    said = patient.back("change my goals")
    assert said == [
        "OK, back to question 6 of 14.",
        progress(Q.GOALS) + PREPARE.question(Q.GOALS).text,
    ]
    assert patient.conversation.goals == ()


def test_back_with_nothing_to_go_back_to_or_not_reached(patient: Patient) -> None:
    patient.start()
    assert patient.back("back")[0] == messages.NOTHING_TO_GO_BACK_TO
    assert patient.back("change my goals")[0] == messages.NOT_REACHED_YET


def test_why_gives_the_reason_then_asks_again(patient: Patient) -> None:
    patient.start()
    patient.answer_until(Q.CONFIDENCE)
    said = patient.why()
    assert said == [
        PREPARE.question(Q.CONFIDENCE).reason,
        ask(patient.conversation, Q.CONFIDENCE).text,
    ]
    assert explain(Conversation()).said == (Message(messages.WHY_PREPARE),)


def test_help_lists_the_commands_then_asks_again(patient: Patient) -> None:
    patient.start()
    said = patient.help()
    assert said[0] == messages.HELP and "WHY - why I ask a question" in said[0]
    assert said[1] == ask(patient.conversation, Q.CONSENT_START).text


def test_pause_keeps_the_progress_and_resumes_at_the_same_question(
    patient: Patient, database_url: str
) -> None:
    patient.start()
    patient.answer_until(Q.NOT_GOING_WELL)
    said = patient.pause()
    assert said == [
        "No problem. Your answers so far are saved. Message me any time and we will carry on "
        f"from question {PREPARE.position(Q.NOT_GOING_WELL)}."
    ]
    assert preparation_row(database_url).paused_at is not None
    resumed = Patient(database_url, patient.token)
    said = resumed.start()
    assert said == [messages.WELCOME_BACK, ask(resumed.conversation, Q.NOT_GOING_WELL).text]
    assert resumed.conversation.answer(Q.WHAT_MATTERS) == "My grandchildren and my garden"


def test_the_readback_shows_every_part_and_changes_the_one_named(
    patient: Patient, database_url: str
) -> None:
    patient.start()
    patient.answer_until(Q.READBACK)
    readback = ask(patient.conversation, Q.READBACK).text
    assert readback.startswith(progress(Q.READBACK) + "Here is what you told me:\n")
    assert "\n5 My goals: Walk to the shops without stopping; Sleep through the night\n" in readback
    assert "\n6 What I'd like to talk about: Pain; Sleep; my knees\n" in readback
    said = patient.send("5")
    assert said == [
        "OK, let's change my goals.",
        progress(Q.GOALS) + PREPARE.question(Q.GOALS).text,
    ]
    patient.send("Swim again")
    said = patient.send("no")
    assert "\n5 My goals: Swim again\n" in said[-1]
    assert goal_table(database_url) == ["Swim again"]
    with session_scope(database_url) as session:
        appointment_id = session.execute(select(Preparation.appointment_id)).scalar_one()
        record = build_record(session, appointment_id, ZONE)
        assert record is not None
        assert [goal.text for goal in record.goals] == ["Swim again"]
        assert "My goals:\n  1. Swim again\n" in to_text(record)
    said = patient.send("maybe")
    assert said[0] == (
        "Sorry, please reply YES, or a number from 1 to 11 for the part you want to change."
    )
    said = patient.send("yes")
    assert said[-1].startswith(progress(Q.CONSENT_SHARE))
    assert answers(database_url)[Q.READBACK].value is True


def test_a_no_to_sharing_finishes_privately_and_is_kept_with_its_time(
    patient: Patient, database_url: str
) -> None:
    patient.start()
    patient.answer_until(Q.CONSENT_SHARE)
    assert patient.send("2") == [messages.COMPLETE_PRIVATE]
    row = preparation_row(database_url)
    assert row.status == PreparationStatus.COMPLETE
    assert row.consent_to_share is False and row.consent_to_share_at is not None


def test_a_finished_preparation_says_so_when_the_patient_comes_back(
    patient: Patient, database_url: str
) -> None:
    patient.start()
    patient.answer_until(Q.CONSENT_SHARE)
    assert patient.send("yes") == [messages.COMPLETE_SHARED]
    again = Patient(database_url, patient.token)
    assert again.start() == [messages.ALREADY_COMPLETE]


def test_a_no_at_the_start_asks_nothing_more_until_the_patient_comes_back(
    patient: Patient, database_url: str
) -> None:
    patient.start()
    said = patient.send("no")
    assert said == [messages.DECLINED]
    assert preparation_row(database_url).status == PreparationStatus.DECLINED
    again = Patient(database_url, patient.token)
    assert again.start()[-1] == ask(again.conversation, Q.CONSENT_START).text


def test_a_stranger_is_told_politely_and_asked_nothing(database_url: str) -> None:
    by_link = Patient(database_url, "not-a-token")
    assert by_link.start() == [messages.NO_INVITATION]
    assert by_link.conversation.invited is False
    by_sms = Patient(database_url, "not-a-token", Channel.SMS)
    assert by_sms.start() == [messages.NOT_FOUND_BY_SMS]


def test_by_sms_the_date_of_birth_comes_first(database_url: str, token: str) -> None:
    patient = Patient(database_url, token, Channel.SMS)
    said = patient.start()
    assert said == [messages.SMS_GREETING, PREPARE.question(Q.IDENTITY).text]
    said = patient.send("31 February 1950")
    assert said[0].startswith("That date does not exist.")
    said = patient.send("4/2/1950")
    assert said[0] == "Sorry, that does not match our records. You have 2 more tries left."
    said = patient.send("3 Feb 1950")
    assert said[0] == messages.IDENTITY_CONFIRMED
    assert "care planning appointment" in said[1]
    assert said[2].startswith(progress(Q.CONSENT_START))
    assert preparation_row(database_url).identity_verified_at is not None


def test_by_sms_three_wrong_dates_stop_the_conversation_and_tell_the_practice(
    database_url: str, token: str
) -> None:
    patient = Patient(database_url, token, Channel.SMS)
    patient.start()
    patient.send("01/01/1960")
    assert patient.send("01/01/1961")[0].endswith("You have 1 more try left.")
    assert patient.send("01/01/1962") == [messages.IDENTITY_LOCKED]
    assert patient.conversation.identity_locked is True
    with session_scope(database_url) as session:
        assert session.execute(select(SafetyFlag.level)).scalars().all() == ["identity"]
    again = Patient(database_url, token, Channel.SMS)
    assert again.start() == [messages.IDENTITY_LOCKED]


def test_an_emergency_in_an_answer_is_signposted_first_stored_flagged_and_stops(
    patient: Patient, database_url: str
) -> None:
    said_text = "My family. But I've had chest pain all morning"
    patient.start()
    patient.send("yes")
    said = patient.send(said_text, Concern(Level.EMERGENCY, "chest pain", "rules"))
    assert said == [messages.SAFETY_REPLIES["emergency"], messages.SAFETY_PAUSE]
    assert answers(database_url)[Q.WHAT_MATTERS].value == said_text
    with session_scope(database_url) as session:
        flag = session.execute(select(SafetyFlag)).scalar_one()
        assert (flag.level, flag.message, flag.question_id, flag.detected_by) == (
            "emergency",
            said_text,
            Q.WHAT_MATTERS,
            "rules",
        )
    resumed = Patient(database_url, patient.token)
    assert resumed.start()[-1].startswith(progress(Q.GOING_WELL))


def test_an_urgent_concern_is_signposted_and_the_questions_go_on(patient: Patient) -> None:
    patient.start()
    patient.send("yes")
    said = patient.send("I feel faint", Concern(Level.URGENT, "faint", "classifier"))
    assert said[0] == messages.SAFETY_REPLIES["urgent"]
    assert said[-1].startswith(progress(Q.GOING_WELL))


def test_a_concern_in_an_unreadable_reply_gets_no_please_reply_hint(patient: Patient) -> None:
    patient.start()
    said = patient.send("I can't breathe", Concern(Level.EMERGENCY, "can't breathe", "rules"))
    assert said == [messages.SAFETY_REPLIES["emergency"], messages.SAFETY_PAUSE]


def test_a_preparation_names_the_questionnaire_it_started_on(
    database_url: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = replace(PREPARE, version="2")
    monkeypatch.setitem(QUESTIONNAIRES, (second.id, second.version), second)
    patient = Patient(database_url, token)
    patient.conversation = Conversation(questionnaire=second)
    patient.start()
    patient.send("yes")
    assert preparation_row(database_url).questionnaire_version == "2"
    later = Patient(database_url, token)
    later.start()
    assert preparation_row(database_url).questionnaire_version == "2"
    with session_scope(database_url) as session:
        appointment_id = session.execute(select(Preparation.appointment_id)).scalar_one()
        record = build_record(session, appointment_id, ZONE)
        assert record is not None
        assert (record.questionnaire_id, record.questionnaire_version) == ("prepare", "2")


def test_summary_sends_the_patients_own_copy_then_asks_the_question_again(
    patient: Patient,
) -> None:
    patient.start()
    patient.answer_until(QuestionId.GOOD_DAY)
    copy, again = patient.summary()
    assert copy.startswith("Your answers for Hill Surgery, ")
    assert f"What matters: {dict(HAPPY_PATH)[QuestionId.WHAT_MATTERS]}" in copy
    assert again.startswith(progress(QuestionId.GOOD_DAY))


def test_summary_by_sms_waits_for_the_date_of_birth(database_url: str, token: str) -> None:
    patient = Patient(database_url, token, Channel.SMS)
    patient.start()
    said = patient.summary()
    assert said[0] == messages.SUMMARY_AFTER_IDENTITY
    assert "Your answers" not in " ".join(said)
    assert said[-1].endswith(PREPARE.question(QuestionId.IDENTITY).text)
