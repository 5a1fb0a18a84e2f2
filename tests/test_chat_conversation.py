"""The web chat with the real Rasa stack and trained model, without JavaScript.

A whole preparation by buttons, boxes and typed replies; every command once; a
conversation started by SMS and finished on the web; and what a safety message
looks like in the page. Browser tests (with and without JavaScript) are in
tests/test_chat_browser.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from careprep.preparation import messages
from careprep.preparation.questionnaire import question
from tests.rasa_stack import RasaStack
from tests.test_sms import booked, verified
from tests.web_patient import WebPatient

pytestmark = pytest.mark.rasa


def asks(texts: list[str], question_id: str) -> bool:
    return any(question(question_id).text in text for text in texts)


def opened_and_started(patient: WebPatient) -> None:
    """Open the link, pass the check, see the introduction and the first question, say yes."""
    patient.open()
    said = patient.latest()
    assert any(text.startswith("Hello, this is Hill Surgery.") for text in said), said
    assert said[-1].startswith("Question 1 of 14: Are you happy to go ahead?")
    patient.press("Yes")
    assert asks(patient.latest(), "what_matters")


def test_a_whole_preparation_in_the_web_chat(rasa: RasaStack, tmp_path: Path) -> None:
    patient = WebPatient.booked(rasa, tmp_path, name="Wendy Web")
    opened_and_started(patient)
    for text, following in [
        ("My grandchildren and my garden", "going_well"),
        ("I walk to church every Sunday", "not_going_well"),
        ("My knees hurt on the stairs", "good_day"),
        ("No pain and a visit from my son", "goals"),
        ("Walk to the shops without stopping", "goals"),
    ]:
        patient.say(text)
        assert asks(patient.latest(), following) or following == "goals", patient.latest()
    patient.say("no")
    assert asks(patient.latest(), "topics")
    assert 'id="choice-4"' in patient.page and "Choose all that apply" in patient.page
    patient.tick(2, 4, typed="my knees")
    assert asks(patient.latest(), "questions")
    patient.say("Can I take ibuprofen with my tablets?")
    patient.say("My daughter Jo")
    patient.say("6")
    assert asks(patient.latest(), "needs")
    patient.tick(4)
    assert asks(patient.latest(), "review_interval")
    patient.press("Every 6 months")
    assert "Here is what you told me" in patient.latest()[-1]
    assert "Change<span" in patient.page
    patient.press("YES")
    assert asks(patient.latest(), "consent_share")
    patient.press("Yes")
    assert patient.latest() == [messages.COMPLETE_SHARED]
    assert "What happens next" in patient.page and "Your answers" in patient.page
    assert "My grandchildren and my garden" in patient.page.split("Your answers", 1)[1]

    record = json.loads(rasa.export_by_appointment(patient.appointment_id, "json"))
    assert record["preparation_status"] == "complete" and record["channels"] == ["web"]
    values = rasa.stored(patient.appointment_id)
    assert values["what_matters"] == "My grandchildren and my garden"
    assert values["topics"] == ["Pain", "Sleep", "my knees"]
    assert values["review_interval"] == "Every 6 months"
    # A reload, and a second device after its own check, show the same conversation.
    assert patient.reload().count("careprep-chat__message--") == patient.page.count(
        "careprep-chat__message--"
    )
    other = WebPatient.on(rasa, tmp_path, patient.link, patient.sender_id, patient.appointment_id)
    other.open()
    assert [e.text for e in other.entries()] == [e.text for e in patient.entries()]


def test_each_command_works_as_a_button(rasa: RasaStack, tmp_path: Path) -> None:
    patient = WebPatient.booked(rasa, tmp_path)
    patient.open()
    patient.press("Yes")
    patient.say("My family")
    assert asks(patient.latest(), "going_well")
    patient.press("WHY")
    assert patient.latest()[0] == question("going_well").reason
    patient.press("SKIP")
    assert asks(patient.latest(), "not_going_well")
    patient.press("BACK")
    assert asks(patient.latest(), "going_well")
    patient.press("HELP")
    assert "SKIP - skip a question" in patient.latest()[0]
    patient.say("Walks with the dog")
    assert asks(patient.latest(), "not_going_well")
    patient.press("PAUSE")
    assert patient.latest()[0].startswith("No problem. Your answers so far are saved.")
    patient.say("hello")
    assert patient.latest()[0] == messages.WELCOME_BACK
    assert asks(patient.latest(), "not_going_well")


def test_started_by_sms_finished_on_the_web(rasa: RasaStack, tmp_path: Path) -> None:
    phone, appointment_id = booked(rasa)
    verified(rasa, phone)
    rasa.sms(phone, "yes")
    rasa.sms(phone, "My allotment")
    with_link = rasa.link_of(appointment_id)
    patient = WebPatient.on(rasa, tmp_path, *with_link, appointment_id)
    patient.open()
    entries = patient.entries()
    assert any(
        e.by_patient and e.text == "My allotment" and "text message" in e.who for e in entries
    )
    assert asks(patient.latest(), "going_well") or asks([entries[-1].text], "going_well")
    patient.say("Seeing friends at the weekend")
    assert asks(patient.latest(), "not_going_well")
    # ...and back to SMS, where the conversation carries on from the web answer.
    reply = rasa.sms(phone, "Stairs")
    assert reply.last.startswith("Question 5 of 14")
    record = json.loads(rasa.export_by_appointment(appointment_id, "json"))
    assert record["channels"] == ["sms", "web"]
    values = rasa.stored(appointment_id)
    assert values["going_well"] == "Seeing friends at the weekend"
    assert values["not_going_well"] == "Stairs"


def test_a_red_flag_in_the_web_chat_is_signposted_with_numbers_to_tap(
    rasa: RasaStack, tmp_path: Path
) -> None:
    patient = WebPatient.booked(rasa, tmp_path)
    patient.open()
    patient.press("Yes")
    patient.say("I have had crushing chest pain for an hour and my arm is numb")
    assert patient.latest()[0] == messages.SAFETY_REPLIES["emergency"]
    assert '<a href="tel:999">999</a>' in patient.page
    flags = json.loads(rasa.export_by_appointment(patient.appointment_id, "json"))["safety_flags"]
    assert [flag["level"] for flag in flags] == ["emergency"]


def test_a_patient_asked_for_their_date_of_birth_by_sms_can_start_on_the_web(
    rasa: RasaStack, tmp_path: Path
) -> None:
    phone, appointment_id = booked(rasa)
    assert rasa.sms(phone, "Hi").last == question("identity").text
    patient = WebPatient.on(rasa, tmp_path, *rasa.link_of(appointment_id), appointment_id)
    opened_and_started(patient)
