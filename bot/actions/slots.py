"""The Rasa names of the preparation conversation, and the translation to and from the core.

This is the one module that spells the slot names. The question slots are named
after the question ids of ``QUESTIONNAIRE`` (domain.yml holds them to it).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from careprep.preparation.conversation import Channel, Conversation, Message, Turn
from careprep.preparation.questionnaire import ALL_QUESTION_IDS, PREPARE, latest

QUESTIONNAIRE = PREPARE
"""The questionnaire a conversation asks until the store says it is another (a review)."""
QUESTION_SLOTS = ALL_QUESTION_IDS
"""A slot (and an ask action) for every question of every questionnaire."""
FORM = "preparation_form"
QUESTIONNAIRE_ID = "questionnaire"
GOALS_TO_REVIEW = "goals_to_review"
REQUESTED = "requested_slot"
GOAL_LIST = "goal_list"
INVITED = "invited"
IDENTITY_LOCKED = "identity_locked"
SAFETY_PAUSE = "safety_pause"
SMS_CHANNEL = "sms"
"""The name of our SMS input channel (integrations/sms)."""


def conversation_of(tracker: Tracker, replying: bool = False) -> Conversation:
    """Return where the conversation is, from the tracker's slots.

    With ``replying`` the question being asked counts as not answered yet: its slot
    holds the reply the form took from the patient's text, still to be read.
    """
    requested = tracker.get_slot(REQUESTED)
    asked = latest(tracker.get_slot(QUESTIONNAIRE_ID) or QUESTIONNAIRE.id)
    answers = {question_id: tracker.get_slot(question_id) for question_id in asked.ids}
    if replying and requested in answers:
        answers[requested] = None
    by_sms = tracker.get_latest_input_channel() == SMS_CHANNEL
    return Conversation(
        answers=answers,
        goals=tuple(tracker.get_slot(GOAL_LIST) or ()),
        goals_to_review=tuple(tracker.get_slot(GOALS_TO_REVIEW) or ()),
        asking=requested if requested in answers else None,
        channel=Channel.SMS if by_sms else Channel.LINK,
        invited=bool(tracker.get_slot(INVITED)),
        identity_locked=bool(tracker.get_slot(IDENTITY_LOCKED)),
        safety_pause=bool(tracker.get_slot(SAFETY_PAUSE)),
        questionnaire=asked,
    )


def reply_text(tracker: Tracker) -> str | None:
    """Return the patient's reply the form took for the question being asked, if any."""
    text = tracker.slots_to_validate().get(tracker.get_slot(REQUESTED))
    return text if isinstance(text, str) else None


def slot_values(conversation: Conversation) -> dict[str, Any]:
    """Return every slot a conversation sets (the form keeps ``requested_slot`` itself)."""
    return {
        **conversation.answers,
        GOAL_LIST: list(conversation.goals),
        GOALS_TO_REVIEW: list(conversation.goals_to_review),
        QUESTIONNAIRE_ID: conversation.questionnaire.id,
        INVITED: conversation.invited,
        IDENTITY_LOCKED: conversation.identity_locked,
        SAFETY_PAUSE: conversation.safety_pause,
    }


def every_slot(conversation: Conversation) -> list[EventType]:
    """Return events setting every slot of a conversation (loaded from the store)."""
    return [SlotSet(slot, value) for slot, value in slot_values(conversation).items()]


def changed_slots(before: Conversation, after: Conversation) -> list[EventType]:
    """Return events setting the slots a turn changed."""
    old = slot_values(before)
    return [
        SlotSet(slot, value) for slot, value in slot_values(after).items() if old.get(slot) != value
    ]


def reply_slots(asked: str, before: Conversation, after: Conversation) -> list[EventType]:
    """Return the events of a reply: the asked question's slot (read, or cleared), then the rest."""
    return [
        SlotSet(asked, after.answer(asked)),
        *(event for event in changed_slots(before, after) if event["name"] != asked),
    ]


def utter(dispatcher: CollectingDispatcher, message: Message) -> None:
    """Send one message, its options as buttons."""
    dispatcher.utter_message(
        text=message.text,
        buttons=[{"title": option, "payload": option} for option in message.options],
    )


def say(dispatcher: CollectingDispatcher, turn: Turn) -> None:
    """Send everything a turn says, in order."""
    for message in turn.said:
        utter(dispatcher, message)
