"""The preparation form: each reply read by the conversation rules, and the next question asked.

One call to the action server does both: the form's validation action reads the
reply and then asks the question the form will wait for. The domain has no
``action_ask_<slot>``, so Rasa's form asks nothing itself; a second round trip
per turn cost more than the rest of the turn (docs/performance.md).
"""

from __future__ import annotations

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions import slots
from bot.actions.safety import concerns_in
from bot.actions.store import settings, with_preparation
from careprep.preparation.conversation import Turn, ask, next_question, questions_to_ask, reply
from careprep.store.models import Preparation


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

    async def next_requested_slot(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> EventType:
        """Ask the next question in the same call that read the reply (or end the form)."""
        conversation = slots.conversation_of(tracker)
        asking = next_question(conversation)
        if asking is not None:
            slots.utter(dispatcher, ask(conversation, asking))
        return SlotSet(slots.REQUESTED, asking)
