"""The SMS sender: the real Twilio client, over HTTP, against a local fake of Twilio's API."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from integrations.sms.sender import SmsSender

if TYPE_CHECKING:
    from tests.fake_twilio import FakeTwilio

pytest_plugins = ["tests.fake_twilio"]

PHONE = "+447700900123"
BODY = "Hello from Hill Surgery. Your care planning appointment is on 10 December."


def sender_for(
    fake: FakeTwilio, tmp_path: Path, sleeps: list[float], **overrides: str | None
) -> SmsSender:
    return SmsSender(fake.settings(tmp_path, **overrides), sleep=sleeps.append)


def test_sends_to_from_body_and_status_callback_with_the_account_credentials(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    result = sender_for(fake_twilio, tmp_path, []).send(PHONE, BODY)

    [request] = fake_twilio.received
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request.authorised
    assert request.form == {
        "To": PHONE,
        "From": "+447700900999",
        "Body": BODY,
        "StatusCallback": "https://careprep.example/webhooks/sms/status",
    }
    assert (result.state, result.sid, result.permanent) == ("sent", request.sid, False)
    assert result.sid is not None and result.sid.startswith("SM") and len(result.sid) == 34


def test_rate_limited_twice_is_retried_with_growing_waits_then_sent(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    fake_twilio.fail_next(2, 429, message="Too Many Requests")
    sleeps: list[float] = []

    result = sender_for(fake_twilio, tmp_path, sleeps).send(PHONE, BODY)

    assert result.state == "sent"
    assert [request.status for request in fake_twilio.received] == [429, 429, 201]
    assert sleeps == [0.5, 1.0]


def test_server_errors_three_times_then_sent_on_the_last_attempt(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    fake_twilio.fail_next(3, 503)
    sleeps: list[float] = []

    result = sender_for(fake_twilio, tmp_path, sleeps).send(PHONE, BODY)

    assert result.state == "sent"
    assert len(fake_twilio.messages) == 1 and len(fake_twilio.received) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_server_errors_on_every_attempt_fail_for_now_not_for_good(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    fake_twilio.fail_next(5, 500, message="Internal Server Error")
    sleeps: list[float] = []

    result = sender_for(fake_twilio, tmp_path, sleeps).send(PHONE, BODY)

    assert (result.state, result.error_code, result.permanent) == ("failed", 20500, False)
    assert len(fake_twilio.received) == 4 and fake_twilio.messages == []
    assert sleeps == [0.5, 1.0, 2.0]


def test_the_attempts_and_the_first_wait_are_the_sender_s_to_choose(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    fake_twilio.fail_next(5, 503)
    sleeps: list[float] = []
    sender = SmsSender(
        fake_twilio.settings(tmp_path), max_attempts=3, backoff_seconds=2.0, sleep=sleeps.append
    )

    result = sender.send(PHONE, BODY)

    assert (result.state, result.error_code) == ("failed", 20503)
    assert len(fake_twilio.received) == 3
    assert sleeps == [2.0, 4.0]


def test_opted_out_recipient_is_not_retried(fake_twilio: FakeTwilio, tmp_path: Path) -> None:
    fake_twilio.fail_next(1, 400, 21610, "Attempt to send to unsubscribed recipient")
    sleeps: list[float] = []

    result = sender_for(fake_twilio, tmp_path, sleeps).send(PHONE, BODY)

    assert (result.state, result.error_code, result.permanent) == ("failed", 21610, True)
    assert result.opted_out
    assert result.error_message is not None and "unsubscribed recipient" in result.error_message
    assert len(fake_twilio.received) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21211, "The 'To' number is not a valid phone number."),
        (21614, "'To' number is not a valid mobile number"),
    ],
)
def test_a_number_twilio_cannot_text_is_not_retried(
    fake_twilio: FakeTwilio, tmp_path: Path, code: int, message: str
) -> None:
    fake_twilio.fail_next(1, 400, code, message)
    sleeps: list[float] = []

    result = sender_for(fake_twilio, tmp_path, sleeps).send(PHONE, BODY)

    assert (result.state, result.error_code, result.permanent) == ("failed", code, True)
    assert not result.opted_out
    assert len(fake_twilio.received) == 1 and sleeps == []


def test_a_wrong_auth_token_is_not_retried_and_not_the_message_s_fault(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    sleeps: list[float] = []

    result = sender_for(fake_twilio, tmp_path, sleeps, twilio_auth_token="wrong").send(PHONE, BODY)

    assert (result.state, result.error_code, result.permanent) == ("failed", 20003, False)
    assert [request.authorised for request in fake_twilio.received] == [False]
    assert sleeps == []


def test_unreachable_twilio_is_retried_then_fails_for_now(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sleeps: list[float] = []
    sender = sender_for(
        fake_twilio, tmp_path, sleeps, twilio_api_base_url=f"http://127.0.0.1:{closed_port}"
    )

    result = sender.send(PHONE, BODY)

    assert (result.state, result.permanent) == ("failed", False)
    assert result.error_message == "could not reach Twilio (ConnectionError)"
    assert sleeps == [0.5, 1.0, 2.0]


def test_without_an_account_nothing_is_sent_and_the_message_is_logged(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    sender = sender_for(fake_twilio, tmp_path, [], twilio_account_sid=None, twilio_auth_token=None)

    result = sender.send(PHONE, BODY)

    assert (result.state, result.sid, result.error_code) == ("logged", None, None)
    assert fake_twilio.received == []


def test_logs_name_no_phone_number_and_no_message_text(
    fake_twilio: FakeTwilio, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_twilio.fail_next(1, 400, 21211, f"The 'To' number {PHONE} is not a valid phone number.")
    sender = sender_for(fake_twilio, tmp_path, [])

    sender.send(PHONE, BODY)
    sender.send(PHONE, BODY)

    sent = fake_twilio.received[1].sid
    assert sent is not None and sent in caplog.text and "21211" in caplog.text
    assert "7700900123" not in caplog.text
    assert "Hill Surgery" not in caplog.text
