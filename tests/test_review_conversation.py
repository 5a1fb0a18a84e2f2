"""The review conversation by SMS with the trained model: from the reminder to the next one."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from careprep.messaging.reminders import plan_reviews
from careprep.messaging.sender import SendResult
from careprep.messaging.worker import Dispatch, dispatch_due
from careprep.preparation import messages
from careprep.store import session_scope
from careprep.store.models import Appointment, OutboxMessage
from tests.factories import book, prepare
from tests.rasa_stack import RasaStack
from tests.test_sms import sms_native

pytestmark = pytest.mark.rasa

DOB = "1950-02-03"
WEB = "http://careprep.test"


class Recorder:
    """A sender that keeps what it was asked to send (Twilio itself is tested elsewhere)."""

    configured = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> SendResult:
        self.sent.append((to, body))
        return SendResult("sent", sid=f"SM{len(self.sent):032d}")


def review_due_now(rasa: RasaStack, goals: list[str] | None) -> tuple[str, int, int]:
    """A preparation completed with goals and a 6-monthly review, whose review date has come.

    Returns the patient's phone, the appointment id and the review's id.
    """
    with session_scope(rasa.database_url) as session:
        appointment = book(session, dob=DOB)
        appointment.practice.quiet_hours = "none"
        prepare(session, appointment, {"review_interval": "2", "goals": goals})
        plan_reviews(session, "Europe/London", WEB)
        review = session.execute(
            select(Appointment).where(Appointment.follows_id == appointment.id)
        ).scalar_one()
        # Six months pass: the review's date has come.
        review.starts_at = datetime.now(timezone.utc) - timedelta(minutes=5)
        reminders = session.execute(
            select(OutboxMessage).where(OutboxMessage.appointment_id == review.id)
        ).scalars()
        for message in reminders:
            later = timedelta(days=3) if message.kind == "review_second" else timedelta()
            message.due_at = review.starts_at + later
        return appointment.patient.phone, appointment.id, review.id


def test_a_review_by_sms_from_the_reminder_to_the_next_reminder(rasa: RasaStack) -> None:
    goals = ["Walk to the shops without stopping", "Sleep through the night"]
    phone, appointment_id, review_id = review_due_now(rasa, goals)
    sender = Recorder()
    dispatch_due(rasa.database_url, sender, dispatch=Dispatch(web_url=WEB))
    [reminder] = [body for to, body in sender.sent if to == phone]
    assert "time to review the care plan you made on" in reminder
    assert f"{WEB}/chat/" in reminder

    reply = rasa.sms(phone, "Hi")
    assert reply.last == "To keep your answers private, please reply with your date of birth."
    reply = rasa.sms(phone, "03/02/1950")
    assert reply.texts[0] == messages.IDENTITY_CONFIRMED
    assert "review the care plan" in reply.texts[1]
    assert reply.last.startswith("Question 1 of 9: Are you happy to go ahead?")

    reply = rasa.sms(phone, "1")
    assert reply.last.startswith(
        'Question 2 of 9: Goal 1 of 2. Your goal: "Walk to the shops without stopping". '
        "How is it going?"
    )
    assert "1 Done\n2 Getting there\n3 Not started\n4 No longer matters" in reply.last
    reply = rasa.sms(phone, "2 the physio exercises helped")
    assert 'Goal 2 of 2. Your goal: "Sleep through the night"' in reply.last
    reply = rasa.sms(phone, "hmm")
    assert reply.texts[0].startswith("Please reply 1, 2, 3 or 4")
    reply = rasa.sms(phone, "not started, too much pain at night")
    assert reply.last.startswith("Question 3 of 9: What has changed for you")
    for text in ("My husband has been ill", "7", "an appointment please", "Get back to swimming"):
        reply = rasa.sms(phone, text)
        sms_native(reply.texts)
    assert reply.last.endswith(messages.ANYTHING_ELSE_GOAL)
    reply = rasa.sms(phone, "no")
    assert reply.last.startswith("Question 7 of 9: When would you like your next review?")
    reply = rasa.sms(phone, "3 months")
    readback = "\n".join(reply.texts)
    sms_native(reply.texts)
    assert "Question 8 of 9: Here is what you told me" in readback
    assert "Walk to the shops without stopping: Getting there (the physio exercises helped)" in (
        readback
    )
    reply = rasa.sms(phone, "yes")
    reply = rasa.sms(phone, "yes")
    assert reply.texts == [
        messages.REVIEW_COMPLETE_SHARED,
        "Your practice will contact you about an appointment.",
    ]

    record = json.loads(rasa.export_by_appointment(review_id, "json"))
    assert record["preparation_status"] == "complete"
    values = {section["question_id"]: section["value"] for section in record["sections"]}
    assert values["goal_progress"] == [
        {
            "goal": "Walk to the shops without stopping",
            "status": "Getting there",
            "note": "the physio exercises helped",
        },
        {
            "goal": "Sleep through the night",
            "status": "Not started",
            "note": "not started, too much pain at night",
        },
    ]
    assert values["confidence"] == 7
    assert values["contact"] == "An appointment"
    assert values["goals"] == ["Get back to swimming"]
    assert values["review_interval"] == "Every 3 months"

    with session_scope(rasa.database_url) as session:
        assert plan_reviews(session, "Europe/London", WEB) == 1
        review = session.get(Appointment, review_id)
        following = session.execute(
            select(Appointment).where(Appointment.follows_id == review_id)
        ).scalar_one()
        assert following.review_months == 3
        assert 89 <= (following.starts_at - review.starts_at).days <= 92
        kinds = {
            message.kind
            for message in session.execute(
                select(OutboxMessage).where(OutboxMessage.appointment_id == following.id)
            ).scalars()
        }
        assert kinds == {"review_reminder", "review_second"}
        second = session.execute(
            select(OutboxMessage).where(
                OutboxMessage.appointment_id == review_id, OutboxMessage.kind == "review_second"
            )
        ).scalar_one()
        assert second.state == "pending", "due in three days; the worker will not send it"
    assert appointment_id != review_id


def test_a_review_without_goals_goes_straight_to_what_has_changed(rasa: RasaStack) -> None:
    phone, _, _ = review_due_now(rasa, None)
    rasa.sms(phone, "Hi")
    rasa.sms(phone, "3 2 1950")
    reply = rasa.sms(phone, "yes")
    assert reply.last.startswith("Question 3 of 9: What has changed for you")
