"""The SMS channel: real HTTP requests signed as Twilio signs them, to the real Rasa server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from careprep.messaging.gsm7 import GSM7_BASIC, GSM7_EXTENDED, TWO_SEGMENTS, septets
from careprep.patients.contacts import preparation_for_phone
from careprep.preparation import messages
from careprep.store import session_scope
from tests.factories import book, unused_phone
from tests.fake_twilio import FakeTwilio
from tests.rasa_stack import RasaStack, new_message_sid, sign
from tests.safety_samples import carries_signposting, expected_level, held_out_red_flags
from tests.test_conversation import ANSWERS

pytestmark = pytest.mark.rasa
pytest_plugins = ["tests.fake_twilio"]

DOB = "1950-02-03"


def e164(phone: str) -> str:
    return "+44" + phone.replace(" ", "")[1:]


def booked(rasa: RasaStack) -> tuple[str, int]:
    """Book an appointment for a number no other patient has; return the number and its id."""
    with session_scope(rasa.database_url) as session:
        appointment = book(session, dob=DOB)
        return str(appointment.patient.phone), int(appointment.id)


def nobodys_number(rasa: RasaStack) -> str:
    """Return a number that no patient in the store has."""
    with session_scope(rasa.database_url) as session:
        return e164(unused_phone(session))


def sms_native(texts: list[str]) -> None:
    for text in texts:
        assert septets(text) <= TWO_SEGMENTS, text
        assert all(char in GSM7_BASIC or char in GSM7_EXTENDED for char in text), text


def verified(rasa: RasaStack, phone: str) -> None:
    reply = rasa.sms(phone, "Hi")
    assert reply.texts[0].startswith("Hello, this is careprep.")
    rasa.sms(phone, "03/02/1950")


def test_a_whole_preparation_by_sms(rasa: RasaStack) -> None:
    phone, appointment_id = booked(rasa)
    reply = rasa.sms(phone, "Hi")
    assert reply.status == 200
    assert "Hill Surgery" not in reply.body and "December" not in reply.body
    assert "not read in real time" in reply.texts[0]
    assert reply.last == "To keep your answers private, please reply with your date of birth."

    reply = rasa.sms(phone, "3rd February 1950")
    assert reply.texts[0] == messages.IDENTITY_CONFIRMED
    assert "Hill Surgery" in reply.texts[1]
    assert reply.last == (
        "Question 1 of 14: Are you happy to go ahead?\n1 Yes\n2 No\nReply 1 or 2."
    )
    numbered = {"consent_start": "1", "review_interval": "2", "consent_share": "1"}
    for question_id, text in ANSWERS:
        reply = rasa.sms(phone, numbered.get(question_id, text))
        assert reply.status == 200
        sms_native(reply.texts)
    assert reply.texts == [messages.COMPLETE_SHARED]
    record = json.loads(rasa.export_by_appointment(appointment_id, "json"))
    assert record["preparation_status"] == "complete"
    values = {section["question_id"]: section["value"] for section in record["sections"]}
    assert values["review_interval"] == "Every 6 months"
    assert values["topics"] == ["Pain", "Sleep", "my knees"]
    assert values["what_matters"] == "My grandchildren and my garden"


def test_summary_sends_the_patients_copy_in_at_most_three_parts(rasa: RasaStack) -> None:
    phone, _ = booked(rasa)
    before = rasa.sms(phone, "Hi")
    assert before.last.endswith("please reply with your date of birth.")
    reply = rasa.sms(phone, "SUMMARY")
    assert reply.texts[0] == messages.SUMMARY_AFTER_IDENTITY
    assert "Your answers" not in reply.body
    rasa.sms(phone, "03/02/1950")
    for _, text in ANSWERS[:5]:
        rasa.sms(phone, text)
    reply = rasa.sms(phone, "Summary")
    sms_native(reply.texts)
    copy = "\n".join(text for text in reply.texts if "Question" not in text)
    assert copy.startswith("Your answers for Hill Surgery, ")
    assert "What matters: My grandchildren and my garden" in copy
    assert septets(copy) <= 3 * 153
    assert reply.last.startswith("Question 6 of 14: ")


def test_replies_are_split_in_order_into_messages_of_two_segments(rasa: RasaStack) -> None:
    phone, _ = booked(rasa)
    verified(rasa, phone)
    for _, text in ANSWERS[:14]:
        reply = rasa.sms(phone, text)
    assert any("Here is what you told me" in text for text in reply.texts)
    assert len(reply.texts) >= 2
    sms_native(reply.texts)
    joined = "\n".join(reply.texts)
    assert joined.index("1 What matters to me") < joined.index("11 How often I'd like a review")


def test_curly_quotes_and_emoji_reach_a_phone_as_plain_quotes_and_nothing(
    rasa: RasaStack,
) -> None:
    phone, _ = booked(rasa)
    verified(rasa, phone)
    answers = [text for _, text in ANSWERS]
    answers[1] = "My family \U0001f600 and my \u201cgarden\u201d"
    for text in answers[: answers.index("yes", 1)]:
        reply = rasa.sms(phone, text)
    lines = [line for text in reply.texts for line in text.split("\n")]
    assert '1 What matters to me: My family and my "garden"' in lines
    sms_native(reply.texts)


@pytest.mark.parametrize(
    "signature",
    [None, "", "bm90IGEgc2lnbmF0dXJl", "forged"],
    ids=["unsigned", "empty", "wrong", "forged"],
)
def test_unsigned_and_forged_requests_are_refused_and_not_processed(
    rasa: RasaStack, signature: str | None
) -> None:
    phone, appointment_id = booked(rasa)
    params = {"From": phone, "Body": "Hi", "MessageSid": new_message_sid()}
    reply = rasa.post_sms(params, signature)
    assert reply.status == 403
    record = json.loads(rasa.export_by_appointment(appointment_id, "json"))
    assert record["preparation_status"] == "not_started"
    assert rasa.sms(phone, "Hi").texts[0].startswith("Hello, this is careprep.")


def test_a_signature_for_other_fields_is_refused(rasa: RasaStack) -> None:
    phone, _ = booked(rasa)
    signed = {"From": phone, "Body": "Hi", "MessageSid": new_message_sid()}
    tampered = {**signed, "Body": "STOP"}
    assert rasa.post_sms(tampered, sign(signed)).status == 403


def test_a_replayed_message_is_processed_once(rasa: RasaStack) -> None:
    phone, appointment_id = booked(rasa)
    verified(rasa, phone)
    rasa.sms(phone, "yes")
    sid = new_message_sid()
    first = rasa.sms(phone, "My family", message_sid=sid)
    again = rasa.sms(phone, "My family", message_sid=sid)
    assert again.status == 200 and again.body == first.body
    reply = rasa.sms(phone, "Walking the dog")
    assert reply.last.startswith("Question 4 of 14")
    values = rasa.stored(appointment_id)
    assert values["what_matters"] == "My family"
    assert values["going_well"] == "Walking the dog"


@pytest.mark.parametrize(
    ("drop", "body", "status", "reason"),
    [
        ("From", "Hi", 400, "missing From"),
        ("Body", "Hi", 400, "missing Body"),
        (None, "x" * 5000, 413, "Body is longer than 1600 characters"),
    ],
)
def test_malformed_requests_get_a_reason_not_a_500(
    rasa: RasaStack, drop: str | None, body: str, status: int, reason: str
) -> None:
    params = {"From": "+447700900001", "Body": body, "MessageSid": new_message_sid()}
    if drop:
        del params[drop]
    reply = rasa.post_sms(params, sign(params))
    assert reply.status == status
    assert reply.body == reason


def test_from_must_be_a_phone_number(rasa: RasaStack) -> None:
    params = {"From": "not-a-number", "Body": "Hi", "MessageSid": new_message_sid()}
    reply = rasa.post_sms(params, sign(params))
    assert reply.status == 400 and reply.body == "From is not a phone number"


def test_an_unknown_number_gets_a_polite_reply_that_reveals_nothing(rasa: RasaStack) -> None:
    reply = rasa.sms(nobodys_number(rasa), "Hello, is this the surgery?")
    assert reply.texts == [messages.NOT_FOUND_BY_SMS]


def test_stop_then_a_message_then_start(rasa: RasaStack) -> None:
    phone, appointment_id = booked(rasa)
    verified(rasa, phone)
    rasa.sms(phone, "yes")
    reply = rasa.sms(phone, "STOP")
    assert reply.status == 200 and reply.texts == []
    assert json.loads(rasa.export_by_appointment(appointment_id, "json"))["sms_opted_out"] is True
    assert "Text messages: the patient has opted out" in rasa.export_by_appointment(appointment_id)
    assert rasa.sms(phone, "My family").texts == []
    reply = rasa.sms(phone, "start")
    assert reply.texts == [messages.OPTED_IN]
    reply = rasa.sms(phone, "My family")
    assert reply.last.startswith("Question 3 of 14")
    assert json.loads(rasa.export_by_appointment(appointment_id, "json"))["sms_opted_out"] is False


@pytest.mark.parametrize("word", ["STOPALL", "Unsubscribe", "cancel", "END", "quit"])
def test_every_opt_out_keyword_opts_out_and_yes_opts_back_in(rasa: RasaStack, word: str) -> None:
    phone, appointment_id = booked(rasa)
    rasa.sms(phone, word)
    assert json.loads(rasa.export_by_appointment(appointment_id, "json"))["sms_opted_out"] is True
    assert rasa.sms(phone, "YES").texts == [messages.OPTED_IN]
    assert json.loads(rasa.export_by_appointment(appointment_id, "json"))["sms_opted_out"] is False


def test_stop_inside_an_answer_is_an_answer(rasa: RasaStack) -> None:
    phone, appointment_id = booked(rasa)
    verified(rasa, phone)
    rasa.sms(phone, "yes")
    reply = rasa.sms(phone, "I want to stop feeling tired")
    assert reply.last.startswith("Question 3 of 14")
    assert json.loads(rasa.export_by_appointment(appointment_id, "json"))["sms_opted_out"] is False


@pytest.mark.parametrize("word", ["HELP", "info"])
def test_help_and_info_answer_with_help(rasa: RasaStack, word: str) -> None:
    phone, _ = booked(rasa)
    verified(rasa, phone)
    reply = rasa.sms(phone, word)
    assert any("WHY - why I ask a question" in text for text in reply.texts)
    assert reply.last.endswith("Reply 1 or 2.")


@pytest.mark.parametrize(
    "answer", ["03/02/1950", "3.2.50", "3 Feb 1950", "February 3rd, 1950", "1950-02-03", "03021950"]
)
def test_the_date_of_birth_in_any_common_uk_format(rasa: RasaStack, answer: str) -> None:
    phone, _ = booked(rasa)
    rasa.sms(phone, "Hi")
    reply = rasa.sms(phone, answer)
    assert reply.texts[0] == messages.IDENTITY_CONFIRMED


def test_three_wrong_dates_of_birth_stop_and_tell_the_practice(rasa: RasaStack) -> None:
    phone, appointment_id = booked(rasa)
    rasa.sms(phone, "Hi")
    reply = rasa.sms(phone, "banana")
    assert reply.texts[0] == "Please send your date of birth like this: 31/01/1950."
    assert rasa.sms(phone, "01/01/1960").texts[0] == (
        "Sorry, that does not match our records. You have 2 more tries left."
    )
    assert rasa.sms(phone, "02/02/1950").texts[0] == (
        "Sorry, that does not match our records. You have 1 more try left."
    )
    reply = rasa.sms(phone, "31/12/1999")
    assert reply.texts == [messages.IDENTITY_LOCKED]
    assert rasa.sms(phone, "03/02/1950").texts == [messages.IDENTITY_LOCKED]
    flags = rasa.careprep("flags", "--format", "json").stdout.splitlines()
    mine = [json.loads(row) for row in flags if json.loads(row)["appointment_id"] == appointment_id]
    assert [flag["level"] for flag in mine] == ["identity"]
    assert "identity: The date of birth check by SMS failed 3 times" in (
        rasa.export_by_appointment(appointment_id)
    )
    record = json.loads(rasa.export_by_appointment(appointment_id, "json"))
    assert record["preparation_status"] == "not_started"


def test_the_check_is_asked_once_then_the_patient_resumes(rasa: RasaStack) -> None:
    phone, _ = booked(rasa)
    verified(rasa, phone)
    rasa.sms(phone, "yes")
    rasa.sms(phone, "PAUSE")
    reply = rasa.sms(phone, "Hi again")
    assert reply.texts[0] == messages.WELCOME_BACK
    assert reply.last.startswith("Question 2 of 14")


def test_a_safety_concern_by_sms_is_answered_first_even_before_the_check(
    rasa: RasaStack,
) -> None:
    phone, appointment_id = booked(rasa)
    rasa.sms(phone, "Hi")
    reply = rasa.sms(phone, "cnt breathe")
    assert reply.texts[0] == messages.SAFETY_REPLIES["emergency"]
    verified(rasa, phone)
    rasa.sms(phone, "yes")
    reply = rasa.sms(phone, "my family but i feel like ending it all tbh")
    assert reply.texts[0] == messages.SAFETY_REPLIES["mental_health"]
    levels = [
        flag["level"]
        for flag in json.loads(rasa.export_by_appointment(appointment_id, "json"))["safety_flags"]
    ]
    assert levels == ["mental_health", "emergency"]


def at_state(rasa: RasaStack, state: str) -> tuple[str, int]:
    """Book a patient whose SMS conversation is then put in the given state."""
    phone, appointment_id = booked(rasa)
    if state == "identity check":
        rasa.sms(phone, "Hi")
        return phone, appointment_id
    verified(rasa, phone)
    answers = [text for _, text in ANSWERS]
    if state == "question":
        rasa.sms(phone, "yes")
    elif state == "read-back":
        readback = answers.index("yes", 1)
        for text in answers[:readback]:
            reply = rasa.sms(phone, text)
        assert any("Here is what you told me" in text for text in reply.texts)
    elif state == "paused":
        rasa.sms(phone, "yes")
        rasa.sms(phone, "PAUSE")
    elif state == "complete":
        for text in answers:
            reply = rasa.sms(phone, text)
        assert reply.texts == [messages.COMPLETE_SHARED]
    elif state == "opted out":
        rasa.sms(phone, "STOP")
    return phone, appointment_id


STATES = ["identity check", "question", "read-back", "paused", "complete", "opted out"]


@pytest.mark.parametrize("state", STATES)
def test_held_out_red_flags_by_sms_get_their_signposting_first_in_every_state(
    rasa: RasaStack, state: str
) -> None:
    sample = held_out_red_flags(per_level=2, salt=state)
    phone, appointment_id = at_state(rasa, state)
    signposted = set()
    for example in sample:
        reply = rasa.sms(phone, example.text)
        assert reply.status == 200
        level = expected_level(example.text)
        if level is not None:
            signposted.add(example.text)
        if state == "opted out":
            assert reply.texts == [], example
        elif level is not None:
            assert carries_signposting(reply.texts[0], level), (example, reply.texts)
            sms_native(reply.texts)
    assert len(signposted) >= len(sample) // 2
    flags = json.loads(rasa.export_by_appointment(appointment_id, "json"))["safety_flags"]
    assert signposted <= {flag["message"] for flag in flags}


def test_signed_delivery_reports_are_recorded(rasa: RasaStack) -> None:
    from careprep.store.models import OutboxMessage, Preparation
    from tests.rasa_stack import PUBLIC_URL

    phone, appointment_id = booked(rasa)
    with session_scope(rasa.database_url) as session:
        preparation = session.query(Preparation).filter_by(appointment_id=appointment_id).one()
        message = OutboxMessage(
            patient_id=preparation.appointment.patient_id,
            kind="invitation",
            body="Hello",
            due_at=preparation.appointment.starts_at,
            state="sent",
            provider_sid="SM" + "a" * 32,
        )
        session.add(message)
        session.flush()
        message_id = message.id
    report = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": phone}
    url = PUBLIC_URL + "/webhooks/sms/status"
    path = "/webhooks/sms/status"
    assert rasa.post_sms(report, "forged", path=path).status == 403
    assert rasa.post_sms(report, sign(report, url), path=path).status == 204
    with session_scope(rasa.database_url) as session:
        assert session.get(OutboxMessage, message_id).state == "delivered"


def test_the_invitation_goes_out_and_the_reply_starts_the_preparation(
    rasa: RasaStack, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    from careprep.clinic.appointments import NewAppointment, add_appointment
    from careprep.messaging.worker import dispatch_due
    from integrations.sms.sender import SmsSender

    in_three_days = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    with session_scope(rasa.database_url) as session:
        phone = unused_phone(session)
        appointment, _ = add_appointment(
            session,
            NewAppointment("Hill Surgery", "Ann Example", phone, DOB, in_three_days),
            "Europe/London",
            invite_from="https://careprep.example",
        )
        appointment.practice.quiet_hours = "none"  # sent now, whatever the hour or the day
    sender = SmsSender(fake_twilio.settings(tmp_path), sleep=lambda _: None)
    assert dispatch_due(rasa.database_url, sender) >= 1
    (invitation,) = [m for m in fake_twilio.messages if m["To"] == e164(phone)]
    assert "Hill Surgery" in invitation["Body"] and "reply HI" in invitation["Body"]
    with session_scope(rasa.database_url) as session:
        preparation = preparation_for_phone(session, e164(phone))
        assert preparation is not None
        link_token = preparation.link_token
    # The link opens the web chat; the conversation's sender id is never in it.
    assert f"https://careprep.example/chat/{link_token}\n" in invitation["Body"]
    reply = rasa.sms(e164(phone), "HI")
    assert reply.last == "To keep your answers private, please reply with your date of birth."


def test_nothing_patient_identifiable_reaches_the_logs(rasa: RasaStack) -> None:
    phone, _ = booked(rasa)
    verified(rasa, phone)
    rasa.sms(phone, "yes")
    rasa.sms(phone, "Zebedee the tortoise and my allotment")
    rasa.sms(phone, "I have chest pain right now")
    rasa.sms(phone, "STOP")
    logs = "\n".join(path.read_text() for path in rasa.workdir.glob("*.log"))
    for private in (phone, phone[3:], "03/02/1950", "1950-02-03", "Zebedee", "chest pain"):
        assert private not in logs, private
