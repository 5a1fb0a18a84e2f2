"""The real Rasa stack losing its action server: the message is answered on its next delivery."""

from __future__ import annotations

import pytest

from tests.rasa_stack import RasaStack, new_message_sid
from tests.test_sms import booked, verified

pytestmark = pytest.mark.rasa


def test_a_message_is_answered_when_twilio_delivers_it_again_after_the_action_server_died(
    rasa: RasaStack,
) -> None:
    phone, appointment_id = booked(rasa)
    verified(rasa, phone)
    rasa.sms(phone, "yes")
    sid = new_message_sid()
    rasa.stop_server("actions")
    try:
        while_dead = rasa.sms(phone, "My family", message_sid=sid)
    finally:
        rasa.start_server("actions")

    again = rasa.sms(phone, "My family", message_sid=sid)

    assert while_dead.status == 503
    assert again.status == 200 and again.last.startswith("Question 3 of 14")
    assert rasa.sms(phone, "My family", message_sid=sid).body == again.body
    values = rasa.stored(appointment_id)
    assert values["what_matters"] == "My family"
