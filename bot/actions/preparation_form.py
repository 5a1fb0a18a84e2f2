"""The preparation form: asking each question, and handing each reply to the conversation rules."""

from __future__ import annotations

from abc import ABC, abstractmethod

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions import slots
from bot.actions.safety import concerns_in
from bot.actions.store import settings, with_preparation
from careprep.preparation.conversation import Turn, ask, questions_to_ask, reply
from careprep.store.models import Preparation


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
        slots.utter(dispatcher, ask(slots.conversation_of(tracker), self.question_id))
        return []


def _ask_action(question_id: str) -> type[AskQuestion]:
    return type(
        f"Ask_{question_id}",
        (AskQuestion,),
        {
            "question_id": question_id,
            "name": lambda self: f"action_ask_{self.question_id}",
            "__doc__": f"Asks the {question_id} question.",
        },
    )


ASK_ACTIONS = [_ask_action(each) for each in slots.QUESTION_SLOTS]


class ValidatePreparationForm(FormValidationAction):
    """Hands each reply to the conversation rules, which read it, store it and decide what next."""

    def name(self) -> str:
        """Return the action name Rasa calls for the preparation form."""
        return f"validate_{slots.FORM}"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """Return the questions to ask, in order; the form asks the first one not answered."""
        return list(questions_to_ask(slots.conversation_of(tracker)))

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Read the reply to the question being asked (a safety concern in it comes first)."""
        before = slots.conversation_of(tracker, replying=True)
        text = slots.reply_text(tracker)
        if before.asking is None or text is None:
            return []
        asked = before.asking
        concerns = concerns_in(tracker)
        zone = settings().timezone

        def read(session: Session, preparation: Preparation | None) -> Turn:
            return reply(session, preparation, before, text, zone, concerns)

        turn = await with_preparation(tracker.sender_id, read)
        slots.say(dispatcher, turn)
        return slots.reply_slots(asked, before, turn.conversation)
