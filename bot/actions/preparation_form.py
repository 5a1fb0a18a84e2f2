"""The preparation form: asking each question with progress, and checking each answer.

Every accepted answer is written to the store on the turn it is given.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.safety import SAFETY_PAUSE, STOPPING_LEVELS, concern_in, respond_to_concern
from bot.actions.store import with_preparation
from careprep.patients.identity import check_date_of_birth
from careprep.preparation import messages
from careprep.preparation.answers import (
    NOTHING_WORDS,
    Unreadable,
    read_answer,
    read_date_of_birth,
    read_yes_no,
)
from careprep.preparation.commands import normalise
from careprep.preparation.progress import introduction, record_answer
from careprep.preparation.questionnaire import (
    EDITABLE,
    FLOW,
    FLOW_IDS,
    MAX_GOALS,
    QUESTIONS,
    Kind,
    Question,
    find_by_alias,
    numbered,
    position,
    question,
)
from careprep.record import readback
from careprep.store.models import Preparation

FORM = "preparation_form"
GOAL_LIST = "goal_list"
INVITED = "invited"
IDENTITY = "identity"
IDENTITY_LOCKED = "identity_locked"
SMS = "sms"


def slots_after_change(tracker: Tracker, question_id: str) -> dict[str, Any]:
    """Return the slot changes that go with changing an answer after it was read back."""
    changes: dict[str, Any] = {}
    if question(question_id) in EDITABLE and tracker.get_slot("readback") is not None:
        changes["readback"] = None
    return changes


def slots_to_ask_again(tracker: Tracker, question_id: str) -> dict[str, Any]:
    """Return the slot changes that clear an earlier answer so that it is asked again."""
    changes: dict[str, Any] = {question_id: None, **slots_after_change(tracker, question_id)}
    if question(question_id).kind is Kind.GOALS:
        changes[GOAL_LIST] = []
    return changes


class AskQuestion(Action, ABC):
    """Asks one question with its progress ("Question 3 of 14")."""

    question_id: str

    @abstractmethod
    def name(self) -> str:
        """Return ``action_ask_<question id>``."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Send the question, its options and, for the read-back, the summary."""
        asked = question(self.question_id)
        text = asked.text
        if asked.kind is Kind.GOALS and tracker.get_slot(GOAL_LIST):
            text = messages.ANYTHING_ELSE_GOAL
        if asked.kind is Kind.CONFIRM:
            text = readback(tracker.current_slot_values()) + "\n" + text
        if asked.kind is Kind.MULTI_CHOICE:
            text += "\n" + numbered(asked.options)
        buttons = (
            [{"title": option, "payload": option} for option in asked.options]
            if asked.kind in (Kind.YES_NO, Kind.CHOICE)
            else []
        )
        if asked.in_flow:
            text = f"Question {position(asked.id)} of {len(FLOW)}: {text}"
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


def _ask_action(flow_question: Question) -> type[AskQuestion]:
    return type(
        f"Ask_{flow_question.id}",
        (AskQuestion,),
        {
            "question_id": flow_question.id,
            "name": lambda self: f"action_ask_{self.question_id}",
            "__doc__": f"Asks the {flow_question.id} question.",
        },
    )


ASK_ACTIONS = [_ask_action(each) for each in QUESTIONS]


class ValidatePreparationForm(FormValidationAction):
    """Reads each answer, writes it to the store, and decides what to ask next."""

    def name(self) -> str:
        """Return the action name Rasa calls for the preparation form."""
        return f"validate_{FORM}"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """Ask the questions; by SMS the date-of-birth check comes first.

        Nothing is asked without an invitation, after a no at the start, after
        a safety concern (until the patient writes again) or after a failed check.
        """
        if (
            not tracker.get_slot(INVITED)
            or tracker.get_slot("consent_start") is False
            or tracker.get_slot(SAFETY_PAUSE)
            or tracker.get_slot(IDENTITY_LOCKED)
        ):
            return []
        if tracker.get_latest_input_channel() == SMS and tracker.get_slot(IDENTITY) is not True:
            return [IDENTITY, *FLOW_IDS]
        return list(FLOW_IDS)

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Check the reply for a safety concern first, then store it if it answers the question."""
        requested = tracker.get_slot("requested_slot")
        text = tracker.slots_to_validate().get(requested)
        if requested not in (IDENTITY, *FLOW_IDS) or not isinstance(text, str):
            return []
        concern = concern_in(tracker)

        def check(session: Session, preparation: Preparation | None) -> dict[str, Any]:
            if concern is not None:
                respond_to_concern(session, preparation, tracker, text, requested, dispatcher)
            changes = self.check_answer(
                session,
                preparation,
                question(requested),
                text,
                dispatcher,
                tracker,
                quiet=concern is not None,
            )
            if concern in STOPPING_LEVELS:
                changes[SAFETY_PAUSE] = True
            return changes

        changes = await with_preparation(tracker.sender_id, check)
        return [SlotSet(slot, value) for slot, value in changes.items()]

    def check_answer(
        self,
        session: Session,
        preparation: Preparation | None,
        asked: Question,
        text: str,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        quiet: bool = False,
    ) -> dict[str, Any]:
        """Return the slot changes for one reply; store it when it answers the question.

        ``quiet`` leaves out the "please reply..." hint (after a safety reply).
        """
        if preparation is None:
            return {asked.id: None}
        if asked.kind is Kind.DATE:
            return self.check_identity(session, preparation, text, dispatcher, quiet)
        if asked.kind is Kind.GOALS:
            return self.check_goal(session, preparation, text, tracker)
        if asked.kind is Kind.CONFIRM:
            return self.check_readback(session, preparation, text, dispatcher, tracker)
        try:
            value = read_answer(asked, text)
        except Unreadable as problem:
            if not quiet:
                dispatcher.utter_message(text=f"{problem} {asked.reason}")
            return {asked.id: None}
        record_answer(session, preparation, asked.id, value, text)
        return {asked.id: value, **slots_after_change(tracker, asked.id)}

    @staticmethod
    def check_identity(
        session: Session,
        preparation: Preparation,
        text: str,
        dispatcher: CollectingDispatcher,
        quiet: bool,
    ) -> dict[str, Any]:
        """Check the date of birth; introduce the appointment only once it matches."""
        try:
            born = read_date_of_birth(text)
        except Unreadable as problem:
            if not quiet:
                dispatcher.utter_message(text=str(problem))
            return {IDENTITY: None}
        result = check_date_of_birth(session, preparation, born)
        if result.confirmed:
            dispatcher.utter_message(text=messages.IDENTITY_CONFIRMED)
            dispatcher.utter_message(
                text=messages.WELCOME_BACK if preparation.answers else introduction(preparation)
            )
            return {IDENTITY: True}
        if result.locked:
            dispatcher.utter_message(text=messages.IDENTITY_LOCKED)
            return {IDENTITY: None, IDENTITY_LOCKED: True}
        dispatcher.utter_message(
            text=messages.IDENTITY_WRONG.format(
                tries=result.tries_left, tries_word="try" if result.tries_left == 1 else "tries"
            )
        )
        return {IDENTITY: None}

    @staticmethod
    def check_goal(
        session: Session, preparation: Preparation, text: str, tracker: Tracker
    ) -> dict[str, Any]:
        """Collect one to three goals, each stored as it is given."""
        goals = list(tracker.get_slot(GOAL_LIST) or [])
        if goals and normalise(text) in NOTHING_WORDS:
            return {"goals": goals}
        goals.append(text.strip())
        record_answer(session, preparation, "goals", goals, text)
        done = goals if len(goals) >= MAX_GOALS else None
        return {"goals": done, GOAL_LIST: goals, **slots_after_change(tracker, "goals")}

    @staticmethod
    def check_readback(
        session: Session,
        preparation: Preparation,
        text: str,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
    ) -> dict[str, Any]:
        """Confirm the summary, or clear the part the patient wants to change."""
        try:
            confirmed = read_yes_no(text)
        except Unreadable:
            confirmed = False
        if confirmed:
            record_answer(session, preparation, "readback", True, text)
            return {"readback": True}
        folded = normalise(text)
        target = find_by_alias(folded)
        if folded.isdigit() and 1 <= int(folded) <= len(EDITABLE):
            target = EDITABLE[int(folded) - 1]
        if target is None:
            dispatcher.utter_message(
                text=f"Sorry, please reply YES, or a number from 1 to {len(EDITABLE)} "
                "for the part you want to change."
            )
            return {"readback": None}
        dispatcher.utter_message(text=f"OK, let's change {target.section.lower()}.")
        return {**slots_to_ask_again(tracker, target.id), "readback": None}
