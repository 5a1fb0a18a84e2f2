"""Quiet hours and Sundays, in the practice's local time, across the clock changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from careprep.messaging.schedule import BadQuietHours, QuietHours, next_allowed
from careprep.messaging.sender import SendResult
from careprep.messaging.worker import Dispatch, dispatch_due
from careprep.store import session_scope
from careprep.store.models import OutboxMessage
from tests.factories import book

LONDON = ZoneInfo("Europe/London")
DEFAULT = QuietHours.parse("20:00-09:00")


def london(text: str) -> datetime:
    """A London wall-clock time, e.g. "2026-03-28 21:15" (a Saturday)."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def allowed(text: str, quiet: QuietHours | None = DEFAULT) -> str:
    return (
        next_allowed(london(text), quiet, "Europe/London")
        .astimezone(LONDON)
        .strftime("%a %Y-%m-%d %H:%M %Z")
    )


@pytest.mark.parametrize(
    ("due", "goes"),
    [
        ("2026-12-08 11:00", "Tue 2026-12-08 11:00 GMT"),  # a Tuesday morning: at once
        ("2026-12-08 19:59", "Tue 2026-12-08 19:59 GMT"),
        ("2026-12-08 20:00", "Wed 2026-12-09 09:00 GMT"),  # quiet from 20:00
        ("2026-12-09 03:00", "Wed 2026-12-09 09:00 GMT"),  # after midnight, same night
        ("2026-12-09 09:00", "Wed 2026-12-09 09:00 GMT"),
        ("2026-12-05 22:00", "Mon 2026-12-07 09:00 GMT"),  # Saturday night, then Sunday
        ("2026-12-06 12:00", "Mon 2026-12-07 09:00 GMT"),  # Sunday noon
        # The clocks go forward at 01:00 on Sunday 29 March 2026: quiet hours stay local.
        ("2026-03-27 21:00", "Sat 2026-03-28 09:00 GMT"),
        ("2026-03-28 21:00", "Mon 2026-03-30 09:00 BST"),
        ("2026-03-30 08:30", "Mon 2026-03-30 09:00 BST"),
        # ...and back at 02:00 on Sunday 25 October 2026.
        ("2026-10-24 23:30", "Mon 2026-10-26 09:00 GMT"),
        ("2026-10-23 19:30", "Fri 2026-10-23 19:30 BST"),
        ("2026-10-26 07:00", "Mon 2026-10-26 09:00 GMT"),
    ],
)
def test_a_message_due_in_quiet_hours_or_on_a_sunday_goes_at_the_next_allowed_minute(
    due: str, goes: str
) -> None:
    assert allowed(due) == goes


def test_daytime_quiet_hours_and_none() -> None:
    lunch = QuietHours.parse("12:00-13:30")
    assert allowed("2026-12-08 12:45", lunch) == "Tue 2026-12-08 13:30 GMT"
    assert allowed("2026-12-08 13:30", lunch) == "Tue 2026-12-08 13:30 GMT"
    assert allowed("2026-12-08 22:00", lunch) == "Tue 2026-12-08 22:00 GMT"
    # "none": no quiet time at all, Sundays included.
    assert QuietHours.parse("none") is None
    assert allowed("2026-12-06 03:00", None) == "Sun 2026-12-06 03:00 GMT"


def test_the_moment_itself_is_the_same_instant_in_utc() -> None:
    moment = london("2026-07-01 10:15")
    assert next_allowed(moment, DEFAULT, "Europe/London") == moment.astimezone(timezone.utc)


@pytest.mark.parametrize("written", ["9pm-8am", "20:00", "24:00-09:00", "20:00-20:00", ""])
def test_quiet_hours_must_be_two_different_times_of_day(written: str) -> None:
    with pytest.raises(BadQuietHours):
        QuietHours.parse(written)


class Unconfigured:
    """A sender without Twilio credentials: it only logs (as the worker does without them)."""

    configured = False

    def send(self, to: str, body: str) -> SendResult:
        return SendResult("logged")


def test_the_worker_holds_a_message_due_in_quiet_hours_until_they_end(
    database_url: str, tmp_path: Path
) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        message = OutboxMessage(
            patient_id=appointment.patient_id,
            preparation_id=appointment.preparation.id,
            kind="invitation",
            body="Hello",
            due_at=london("2026-12-08 21:00"),
        )
        session.add(message)
        session.flush()
        message_id = message.id
    night = london("2026-12-08 21:05")
    assert dispatch_due(database_url, Unconfigured(), dispatch=Dispatch(clock=lambda: night)) == 1
    with session_scope(database_url) as session:
        held = session.get(OutboxMessage, message_id)
        assert held.state == "pending"
        assert held.due_at == london("2026-12-09 09:00")
    assert (
        dispatch_due(
            database_url,
            Unconfigured(),
            dispatch=Dispatch(clock=lambda: night + timedelta(hours=1)),
        )
        == 0
    )
    morning = london("2026-12-09 09:00")
    assert dispatch_due(database_url, Unconfigured(), dispatch=Dispatch(clock=lambda: morning)) == 1
    with session_scope(database_url) as session:
        sent = session.get(OutboxMessage, message_id)
        assert sent.state == "logged" and sent.sent_at == morning
