"""The worker sends due outbox messages through the real Twilio client to a local fake Twilio."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from careprep.messaging.outbox import record_delivery_status
from careprep.messaging.worker import IN_FLIGHT, MAX_ATTEMPTS, Dispatch, RateLimiter, dispatch_due
from careprep.store import session_scope
from careprep.store.models import OutboxMessage, Patient, utcnow
from integrations.sms.sender import SmsSender
from tests.factories import book

if TYPE_CHECKING:
    from tests.fake_twilio import FakeTwilio

pytest_plugins = ["tests.fake_twilio"]

PHONE = "+447700900123"
BODY = "Hill Surgery: please get ready for your care planning appointment."


def queue(database_url: str, due_in: timedelta = timedelta(minutes=-1), **fields: Any) -> int:
    """Put a message for Ann Example (07700 900123) in the outbox; return its id.

    Her practice has no quiet hours, so these tests run alike at any hour and on Sundays
    (tests/test_schedule.py covers quiet hours with a clock of its own).
    """
    with session_scope(database_url) as session:
        appointment = book(session, phone=PHONE)
        appointment.practice.quiet_hours = "none"
        message = OutboxMessage(
            patient_id=appointment.patient_id,
            preparation_id=appointment.preparation.id,
            kind="invite",
            body=fields.pop("body", BODY),
            due_at=utcnow() + due_in,
            **fields,
        )
        session.add(message)
        session.flush()
        return int(message.id)


def outbox(database_url: str, message_id: int) -> OutboxMessage:
    with session_scope(database_url) as session:
        message = session.get(OutboxMessage, message_id)
        session.expunge(message)
    return message


def opted_out(database_url: str) -> bool:
    with session_scope(database_url) as session:
        patients = session.query(Patient).filter(Patient.phone == PHONE).all()
        return bool(patients) and all(patient.sms_opted_out_at for patient in patients)


def sender(fake: FakeTwilio, tmp_path: Path, **overrides: str | None) -> SmsSender:
    return SmsSender(fake.settings(tmp_path, **overrides), sleep=lambda _: None)


def test_a_due_message_is_sent_and_a_future_one_waits(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    due = queue(database_url)
    later = queue(database_url, due_in=timedelta(hours=1), body="Later")

    assert dispatch_due(database_url, sender(fake_twilio, tmp_path)) == 1

    [request] = fake_twilio.received
    assert (request.form["To"], request.form["Body"]) == (PHONE, BODY)
    sent = outbox(database_url, due)
    assert (sent.state, sent.provider_sid, sent.attempts) == ("sent", request.sid, 1)
    assert sent.sent_at is not None and sent.last_error is None
    waiting = outbox(database_url, later)
    assert (waiting.state, waiting.attempts, waiting.provider_sid) == ("pending", 0, None)


def test_a_patient_who_opted_out_is_not_texted(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    message_id = queue(database_url)
    with session_scope(database_url) as session:
        session.query(Patient).update({Patient.sms_opted_out_at: utcnow()})

    assert dispatch_due(database_url, sender(fake_twilio, tmp_path)) == 1

    assert outbox(database_url, message_id).state == "cancelled"
    assert fake_twilio.received == []


def test_twilio_saying_the_patient_opted_out_fails_the_message_and_records_the_opt_out(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    first = queue(database_url, due_in=timedelta(minutes=-2))
    second = queue(database_url, due_in=timedelta(days=2))
    fake_twilio.fail_next(1, 400, 21610, "Attempt to send to unsubscribed recipient")

    assert dispatch_due(database_url, sender(fake_twilio, tmp_path)) == 1

    refused = outbox(database_url, first)
    assert (refused.state, refused.attempts) == ("failed", 1)
    assert refused.last_error == (
        "Twilio error 21610: Unable to create record: Attempt to send to unsubscribed recipient"
    )
    assert opted_out(database_url)
    later = outbox(database_url, second)
    assert (later.state, later.cancelled_reason) == (
        "cancelled",
        "the patient opted out of text messages",
    ), "what was still to come is cancelled, with the reason"
    assert len(fake_twilio.received) == 1


def test_an_invalid_number_fails_the_message_at_once(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    message_id = queue(database_url)
    fake_twilio.fail_next(1, 400, 21211, "The 'To' number is not a valid phone number.")

    dispatch_due(database_url, sender(fake_twilio, tmp_path))

    refused = outbox(database_url, message_id)
    assert (refused.state, refused.attempts) == ("failed", 1)
    assert refused.last_error is not None and "21211" in refused.last_error
    assert len(fake_twilio.received) == 1
    assert not opted_out(database_url)


def test_twilio_down_keeps_the_message_for_later_then_fails_it_after_the_last_try(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    message_id = queue(database_url)
    worker_sender = sender(fake_twilio, tmp_path)
    fake_twilio.fail_next(4, 500, message="Internal Server Error")

    assert dispatch_due(database_url, worker_sender) == 1
    assert dispatch_due(database_url, worker_sender) == 0

    waiting = outbox(database_url, message_id)
    assert (waiting.state, waiting.attempts) == ("pending", 1)
    assert waiting.due_at > utcnow() + timedelta(seconds=50)
    assert waiting.last_error is not None and "20500" in waiting.last_error
    assert len(fake_twilio.received) == 4

    with session_scope(database_url) as session:
        message = session.get(OutboxMessage, message_id)
        message.due_at = utcnow()
        message.attempts = MAX_ATTEMPTS - 1
    fake_twilio.fail_next(4, 503)
    dispatch_due(database_url, worker_sender)

    given_up = outbox(database_url, message_id)
    assert (given_up.state, given_up.attempts) == ("failed", MAX_ATTEMPTS)


def test_without_a_twilio_account_the_message_is_logged_and_nothing_sent(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    message_id = queue(database_url)
    local = sender(fake_twilio, tmp_path, twilio_account_sid=None, twilio_auth_token=None)

    assert dispatch_due(database_url, local) == 1

    logged = outbox(database_url, message_id)
    assert (logged.state, logged.provider_sid) == ("logged", None)
    assert logged.sent_at is not None
    assert fake_twilio.received == []


def test_a_message_whose_worker_died_while_sending_is_sent_once_its_claim_expires(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    abandoned = queue(database_url, state="sending", attempts=1)
    in_hand = queue(database_url, due_in=timedelta(minutes=5), state="sending", attempts=1)

    assert dispatch_due(database_url, sender(fake_twilio, tmp_path)) == 1

    retaken = outbox(database_url, abandoned)
    assert (retaken.state, retaken.attempts) == ("sent", 2)
    assert outbox(database_url, in_hand).state == "sending"
    assert len(fake_twilio.messages) == 1


def test_two_workers_send_each_message_exactly_once(
    postgres_database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    """Several workers need PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED)."""
    database_url = postgres_database_url
    bodies = {f"Message {number}" for number in range(8)}
    for body in bodies:
        queue(database_url, body=body)
    fake_twilio.delay_seconds = 0.05
    workers = [
        threading.Thread(target=dispatch_due, args=(database_url, sender(fake_twilio, tmp_path)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sorted(message["Body"] for message in fake_twilio.messages) == sorted(bodies)


def test_delivery_reports_move_a_sent_message_on_but_never_back_from_delivered(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    message_id = queue(database_url)
    dispatch_due(database_url, sender(fake_twilio, tmp_path))
    sid = outbox(database_url, message_id).provider_sid

    for status, error_code in [("sent", None), ("delivered", None), ("failed", "30003")]:
        with session_scope(database_url) as session:
            assert record_delivery_status(session, sid, status, error_code)

    delivered = outbox(database_url, message_id)
    assert (delivered.state, delivered.last_error) == ("delivered", None)
    with session_scope(database_url) as session:
        assert not record_delivery_status(session, "SM" + "0" * 32, "delivered", None)


@pytest.mark.parametrize(("error_code", "patient_opted_out"), [("30003", False), ("21610", True)])
def test_an_undelivered_report_is_recorded_with_its_error(
    database_url: str,
    fake_twilio: FakeTwilio,
    tmp_path: Path,
    error_code: str,
    patient_opted_out: bool,
) -> None:
    message_id = queue(database_url)
    dispatch_due(database_url, sender(fake_twilio, tmp_path))
    sid = outbox(database_url, message_id).provider_sid

    with session_scope(database_url) as session:
        record_delivery_status(session, sid, "undelivered", error_code)

    undelivered = outbox(database_url, message_id)
    assert undelivered.state == "undelivered"
    assert undelivered.last_error == f"Twilio error {error_code} (undelivered)"
    assert opted_out(database_url) is patient_opted_out


CAREPREP = str(Path(sys.executable).with_name("careprep"))


def worker_env(database_url: str, fake: FakeTwilio, tmp_path: Path) -> dict[str, str]:
    """The environment of a ``careprep worker`` process that sends through the fake."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CAREPREP_VAR_DIR": str(tmp_path / "var"),
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": "+447700900999",
        "TWILIO_API_BASE_URL": fake.base_url,
        "PUBLIC_URL": "https://careprep.example",
    }


def test_careprep_worker_once_sends_through_twilio(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    queue(database_url)
    env = worker_env(database_url, fake_twilio, tmp_path)

    worker = subprocess.run(
        [CAREPREP, "worker", "--once"], capture_output=True, text=True, env=env, timeout=60
    )

    assert worker.returncode == 0, worker.stderr
    assert "1 messages handled" in worker.stdout
    [message] = fake_twilio.messages
    assert (message["To"], message["Body"]) == (PHONE, BODY)
    assert PHONE not in worker.stderr and BODY not in worker.stderr


def queue_many(database_url: str, count: int, send_rate: int = 10) -> set[str]:
    """Put ``count`` due messages to one patient in the outbox; return their bodies."""
    bodies = {f"Message {number:04d}" for number in range(count)}
    with session_scope(database_url) as session:
        appointment = book(session, phone=PHONE)
        appointment.practice.quiet_hours = "none"
        appointment.practice.send_rate = send_rate
        due = utcnow() - timedelta(minutes=1)
        session.add_all(
            OutboxMessage(patient_id=appointment.patient_id, kind="invite", body=body, due_at=due)
            for body in sorted(bodies)
        )
    return bodies


def states(database_url: str) -> Counter[str]:
    with session_scope(database_url) as session:
        return Counter(session.execute(select(OutboxMessage.state)).scalars())


def test_each_practice_gets_its_own_pace_from_the_rate_limiter() -> None:
    limiter = RateLimiter(monotonic=lambda: 100.0, sleep=lambda _: None)

    hill = [limiter.slot(1, 10) for _ in range(4)]
    vale = [limiter.slot(2, 4) for _ in range(3)]

    assert hill == pytest.approx([100.0, 100.1, 100.2, 100.3])
    assert vale == pytest.approx([100.0, 100.25, 100.5])


def test_the_worker_sends_concurrently_but_never_more_than_its_cap_in_flight(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    bodies = queue_many(database_url, 40)
    fake_twilio.delay_seconds = 0.05
    dispatch = Dispatch(in_flight=4, rate_limited=False)

    assert dispatch_due(database_url, sender(fake_twilio, tmp_path), dispatch=dispatch) == 40

    assert sorted(message["Body"] for message in fake_twilio.messages) == sorted(bodies)
    assert 2 <= fake_twilio.max_in_flight <= 4
    assert states(database_url) == {"sent": 40}


def test_no_second_carries_more_than_the_practices_send_rate(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    queue_many(database_url, 12, send_rate=5)

    dispatch_due(database_url, sender(fake_twilio, tmp_path), dispatch=Dispatch(in_flight=8))

    arrivals = sorted(request.at for request in fake_twilio.received)
    assert len(arrivals) == 12
    # The limiter gives the 12th message a moment 11 / 5 = 2.2 s after the first's; a busy
    # machine can only delay a request, so the span is at least 2.2 s less the first's delay.
    assert arrivals[-1] - arrivals[0] >= 2.0, "twelve messages at five a second"


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_only_what_was_in_flight(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    """SIGKILL between Twilio's answer and the record of it: the one window (docs/messaging.md)."""
    bodies = queue_many(database_url, 60, send_rate=100)
    fake_twilio.delay_seconds = 0.1
    env = worker_env(database_url, fake_twilio, tmp_path)
    first = subprocess.Popen(
        [CAREPREP, "worker", "--lease", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(fake_twilio.received) < 10 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(0.5)  # requests the worker had in flight are answered all the same
    before = Counter(message["Body"] for message in fake_twilio.messages)
    with session_scope(database_url) as session:
        claimed = set(
            session.execute(
                select(OutboxMessage.body).where(OutboxMessage.state == "sending")
            ).scalars()
        )
    in_the_window = claimed & set(before)
    assert 10 <= len(before) < 60, "killed in the middle of the batch"
    assert in_the_window, "some messages had gone to Twilio with no record of it yet"

    time.sleep(2)  # the dead worker's lease runs out
    second = subprocess.run(
        [CAREPREP, "worker", "--once", "--lease", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert second.returncode == 0, second.stderr
    sent = Counter(message["Body"] for message in fake_twilio.messages)
    assert set(sent) == bodies, "every message was sent"
    twice = {body for body, times in sent.items() if times > 1}
    assert twice <= in_the_window and max(sent.values()) == 2
    # At most the requests in flight, and those answered in the last RECORD_EVERY (50 ms)
    # before the kill: here at most one more each, as Twilio takes 100 ms to answer.
    assert len(in_the_window) <= 2 * IN_FLIGHT
    assert states(database_url) == {"sent": 60}


def test_two_worker_processes_on_postgresql_send_a_thousand_messages_each_exactly_once(
    postgres_database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    bodies = queue_many(postgres_database_url, 1000)
    fake_twilio.delay_seconds = 0.02
    env = worker_env(postgres_database_url, fake_twilio, tmp_path)
    command = [CAREPREP, "worker", "--once", "--no-rate-limit"]

    workers = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], [err for _, err in outputs]
    handled = [int(out.split()[0]) for out, _ in outputs]
    assert sum(handled) == 1000 and min(handled) > 0, f"each worker sent some: {handled}"
    sent = Counter(message["Body"] for message in fake_twilio.messages)
    assert set(sent) == bodies and set(sent.values()) == {1}
    assert states(postgres_database_url) == {"sent": 1000}
