"""What the outbox holds for each appointment: invitations, nudges and review reminders.

Scheduled once (the store refuses a second of a kind), moved with the appointment,
cancelled with a reason; reviews booked at the interval the patient chose, in the
practice's local time across the clock changes. SQLite and PostgreSQL, injected clocks.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careprep.clinic.appointments import (
    InputError,
    NewAppointment,
    add_appointment,
    cancel_booking,
    move_booking,
)
from careprep.messaging.reminders import plan_reviews
from careprep.messaging.sender import SendResult
from careprep.messaging.worker import Dispatch, dispatch_due
from careprep.patients.contacts import set_opted_out
from careprep.store import session_scope
from careprep.store.models import Appointment, OutboxMessage
from tests.factories import prepare

LONDON = ZoneInfo("Europe/London")
WEB = "https://careprep.example"


def london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


class Logged:
    """A sender with no Twilio account: every message is logged."""

    configured = False

    def send(self, to: str, body: str) -> SendResult:
        return SendResult("logged")


def booked(session: Session, at: str = "2027-01-20T10:30", phone: str = "07700 900123") -> int:
    appointment, _ = add_appointment(
        session,
        NewAppointment("Hill Surgery", "Ann Example", phone, "1950-02-03", at),
        "Europe/London",
        invite_from=WEB,
    )
    return int(appointment.id)


def outbox(session: Session, appointment_id: int) -> dict[str, OutboxMessage]:
    rows = session.execute(
        select(OutboxMessage).where(OutboxMessage.appointment_id == appointment_id)
    ).scalars()
    return {row.kind: row for row in rows}


def review_of(session: Session, appointment_id: int) -> Appointment | None:
    return session.execute(
        select(Appointment).where(Appointment.follows_id == appointment_id)
    ).scalar_one_or_none()


def test_booking_schedules_the_invitation_and_the_nudge_in_the_practices_days(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        appointment_id = booked(session)
        messages = outbox(session, appointment_id)
        link = f"{WEB}/chat/{session.get(Appointment, appointment_id).preparation.link_token}"

        assert sorted(messages) == ["invitation", "nudge"]
        invitation, nudge = messages["invitation"], messages["nudge"]
        assert invitation.due_at == london("2027-01-13 10:30")
        assert nudge.due_at == london("2027-01-18 10:30")
        for message in (invitation, nudge):
            assert message.state == "pending"
            assert "Wednesday 20 January at 10:30" in message.body and link in message.body
            assert "999" in message.body
        assert "not finished getting ready" in nudge.body


def test_a_kind_of_message_is_never_scheduled_twice_for_one_appointment(
    database_url: str,
) -> None:
    from careprep.messaging.reminders import schedule

    with session_scope(database_url) as session:
        appointment = session.get(Appointment, booked(session))
        assert schedule(session, appointment, "Europe/London", WEB) == []
        assert len(outbox(session, appointment.id)) == 2
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(
                OutboxMessage(
                    patient_id=appointment.patient_id,
                    appointment_id=appointment.id,
                    kind="invitation",
                    body="again",
                    due_at=appointment.starts_at,
                )
            )


def test_a_late_booking_is_invited_at_once_and_gets_no_nudge(database_url: str) -> None:
    soon = (datetime.now(timezone.utc) + timedelta(days=2, hours=1)).isoformat()
    with session_scope(database_url) as session:
        messages = outbox(session, booked(session, at=soon))
        assert sorted(messages) == ["invitation"]
        assert messages["invitation"].due_at <= datetime.now(timezone.utc)


def test_completing_the_preparation_cancels_the_nudge_with_the_reason(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = session.get(Appointment, booked(session))
        prepare(session, appointment)
        messages = outbox(session, appointment.id)
        assert messages["invitation"].state == "pending"
        assert (messages["nudge"].state, messages["nudge"].cancelled_reason) == (
            "cancelled",
            "the preparation was complete",
        )


def test_a_due_nudge_is_not_sent_to_a_patient_who_has_finished(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment_id = booked(session)
        appointment = session.get(Appointment, appointment_id)
        appointment.practice.quiet_hours = "none"
        appointment.preparation.status = "complete"  # finished by a path that left it waiting
    at_nudge = Dispatch(clock=lambda: london("2027-01-18 10:31"))

    assert dispatch_due(database_url, Logged(), dispatch=at_nudge) == 2

    with session_scope(database_url) as session:
        messages = outbox(session, appointment_id)
        assert messages["invitation"].state == "logged"
        assert (messages["nudge"].state, messages["nudge"].cancelled_reason) == (
            "cancelled",
            "the preparation was complete",
        )


def test_moving_the_appointment_moves_what_has_not_gone_yet(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment_id = booked(session)
        outbox(session, appointment_id)["invitation"].state = "sent"
    with session_scope(database_url) as session:
        move_booking(session, appointment_id, "2027-02-10T14:00", "Europe/London", WEB)
    with session_scope(database_url) as session:
        messages = outbox(session, appointment_id)
        assert messages["invitation"].state == "sent"
        assert "Wednesday 20 January at 10:30" in messages["invitation"].body, "already gone"
        assert messages["nudge"].due_at == london("2027-02-08 14:00")
        assert "Wednesday 10 February at 14:00" in messages["nudge"].body


def test_moving_an_appointment_refuses_a_time_in_the_past_or_a_clash(database_url: str) -> None:
    with session_scope(database_url) as session:
        first = booked(session)
        booked(session, at="2027-01-21T09:00")
        with pytest.raises(InputError, match="in the past"):
            move_booking(session, first, "2020-01-01T10:00", "Europe/London", WEB)
        with pytest.raises(InputError, match="already has appointment"):
            move_booking(session, first, "2027-01-21T09:00", "Europe/London", WEB)
        with pytest.raises(InputError, match="no appointment 999999"):
            move_booking(session, 999999, "2027-01-21T09:00", "Europe/London", WEB)


def test_a_completed_preparation_books_its_review_in_local_time_across_the_clock_change(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        appointment_id = booked(session, at="2027-01-20T10:30")
        prepare(session, session.get(Appointment, appointment_id), {"review_interval": "2"})

    with session_scope(database_url) as session:
        assert plan_reviews(session, "Europe/London", WEB) == 1
        assert plan_reviews(session, "Europe/London", WEB) == 0, "one review follows it"
    with session_scope(database_url) as session:
        review = review_of(session, appointment_id)
        assert review is not None
        assert (review.kind, review.review_months, review.status) == ("review", 6, "booked")
        assert review.starts_at == london("2027-07-20 10:30")  # 09:30 UTC in summer time
        assert review.preparation.questionnaire_id == "review"
        messages = outbox(session, review.id)
        assert messages["review_reminder"].due_at == london("2027-07-20 10:30")
        assert messages["review_second"].due_at == london("2027-07-23 10:30")
        assert "review the care plan you made on 20 January 2027" in (
            messages["review_reminder"].body
        )
        assert f"{WEB}/chat/{review.preparation.link_token}" in messages["review_second"].body


@pytest.mark.parametrize(
    ("at", "chosen", "review"),
    [
        ("2027-01-31T09:00", "three months", "2027-04-30 09:00"),  # no 31 April: the last day
        ("2027-03-10T11:00", "Every 12 months", "2028-03-10 11:00"),
        ("2027-10-20T15:00", "1", "2028-01-20 15:00"),  # option 1, and back to winter time
    ],
)
def test_the_review_date_is_the_chosen_months_after_the_appointment(
    database_url: str, at: str, chosen: str, review: str
) -> None:
    with session_scope(database_url) as session:
        appointment = session.get(Appointment, booked(session, at=at))
        prepare(session, appointment, {"review_interval": chosen})
        plan_reviews(session, "Europe/London", WEB)
        booked_review = review_of(session, appointment.id)
        assert booked_review is not None and booked_review.starts_at == london(review)


def test_no_review_is_booked_when_the_patient_wants_to_decide_at_the_appointment(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        appointment = session.get(Appointment, booked(session))
        prepare(session, appointment, {"review_interval": "4"})
        assert plan_reviews(session, "Europe/London", WEB) == 0
        assert review_of(session, appointment.id) is None


def test_the_second_review_reminder_waits_three_days_and_not_for_a_patient_who_replied(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        appointment = session.get(Appointment, booked(session))
        appointment.practice.quiet_hours = "none"
        prepare(session, appointment, {"review_interval": "quarterly"})
        plan_reviews(session, "Europe/London", WEB)
        review_id = review_of(session, appointment.id).id
    on_the_day = Dispatch(clock=lambda: london("2027-04-20 10:31"))
    dispatch_due(database_url, Logged(), dispatch=on_the_day)
    with session_scope(database_url) as session:
        messages = outbox(session, review_id)
        assert messages["review_reminder"].state == "logged"
        assert messages["review_second"].state == "pending"
        session.get(Appointment, review_id).preparation.started_at = london("2027-04-21 08:00")

    dispatch_due(
        database_url, Logged(), dispatch=Dispatch(clock=lambda: london("2027-04-23 11:00"))
    )

    with session_scope(database_url) as session:
        second = outbox(session, review_id)["review_second"]
        assert (second.state, second.cancelled_reason) == (
            "cancelled",
            "the patient replied to the first reminder",
        )


def test_cancelling_the_appointment_cancels_its_messages_and_its_review(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        appointment_id = booked(session)
        prepare(session, session.get(Appointment, appointment_id), {"review_interval": "2"})
        plan_reviews(session, "Europe/London", WEB)
        review_id = review_of(session, appointment_id).id

    with session_scope(database_url) as session:
        done = cancel_booking(session, appointment_id, "  patient moved   away ")
        assert done == {
            "appointment_id": appointment_id,
            "status": "cancelled",
            "reason": "patient moved away",
            "messages_cancelled": 3,  # the invitation and both review reminders
        }
        with pytest.raises(InputError, match="already cancelled"):
            cancel_booking(session, appointment_id, "again")

    with session_scope(database_url) as session:
        review = session.get(Appointment, review_id)
        assert (review.status, review.cancelled_reason) == ("cancelled", "patient moved away")
        for message in [
            *outbox(session, appointment_id).values(),
            *outbox(session, review_id).values(),
        ]:
            if message.kind != "nudge":
                assert (message.state, message.cancelled_reason) == (
                    "cancelled",
                    "the appointment was cancelled",
                )


def test_opting_out_cancels_every_message_still_to_come(database_url: str) -> None:
    with session_scope(database_url) as session:
        first = booked(session)
        second = booked(session, at="2027-05-05T09:30")
        outbox(session, first)["invitation"].state = "sent"
        set_opted_out(session, "+447700900123", True)
    with session_scope(database_url) as session:
        states = {
            (appointment_id, kind): (message.state, message.cancelled_reason)
            for appointment_id in (first, second)
            for kind, message in outbox(session, appointment_id).items()
        }
    opted_out = ("cancelled", "the patient opted out of text messages")
    assert states == {
        (first, "invitation"): ("sent", None),
        (first, "nudge"): opted_out,
        (second, "invitation"): opted_out,
        (second, "nudge"): opted_out,
    }
