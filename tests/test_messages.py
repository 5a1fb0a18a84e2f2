"""What the assistant says: urgent help is named wherever a conversation can start."""

from pathlib import Path

import yaml

from careprep.preparation import messages

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[1] / "domain.yml").read_text())


def test_first_contact_messages_say_they_are_not_read_in_real_time() -> None:
    for text in (messages.INTRODUCTION, messages.NO_INVITATION, messages.DECLINED):
        assert "not read in real time" in text
        assert "NHS 111" in text and "999" in text
    help_text = DOMAIN["responses"]["utter_help"][0]["text"]
    assert "not read in real time" in help_text and "999" in help_text


def test_each_safety_reply_names_the_right_service() -> None:
    assert "call 999 now" in messages.SAFETY_REPLIES["emergency"]
    assert "NHS 111" in messages.SAFETY_REPLIES["urgent"]
    crisis = messages.SAFETY_REPLIES["mental_health"]
    assert (
        "999" in crisis and "option 2" in crisis and "Samaritans" in crisis and "116 123" in crisis
    )
    for reply in messages.SAFETY_REPLIES.values():
        assert "not read in real time" in reply and "practice" in reply
