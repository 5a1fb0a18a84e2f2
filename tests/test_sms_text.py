"""SMS-native text: GSM-7 only, numbered options, at most two segments per message."""

from careprep.messaging.gsm7 import TWO_SEGMENTS, septets, to_gsm7
from integrations.sms.text import split_for_sms, with_options


def test_curly_quotes_dashes_and_emoji_are_replaced_or_dropped() -> None:
    assert to_gsm7("It\u2019s \u201cfine\u201d \u2013 really\u2026 \U0001f600") == (
        'It\'s "fine" - really...'
    )
    assert to_gsm7("caf\u00e9 na\u00efve \u0141\u00f3d\u017a") == "café naive Lodz"


def test_extension_characters_count_twice() -> None:
    assert septets("[1]") == 5
    assert septets("\u20ac5") == 3


def test_buttons_become_numbered_options() -> None:
    assert with_options("Pick one", ["Every 3 months", "Every 6 months", "Decide later"]) == (
        "Pick one\n1 Every 3 months\n2 Every 6 months\n3 Decide later\nReply 1, 2 or 3."
    )
    assert with_options("No buttons", []) == "No buttons"


def test_long_text_is_split_in_order_on_sentence_boundaries() -> None:
    sentences = [f"Sentence number {n} is here to make the message long enough." for n in range(12)]
    parts = split_for_sms(" ".join(sentences))
    assert len(parts) > 1
    assert all(septets(part) <= TWO_SEGMENTS for part in parts)
    assert all(part.endswith(".") for part in parts)
    assert " ".join(parts) == " ".join(sentences)


def test_a_short_reply_stays_one_message_and_keeps_its_lines() -> None:
    assert split_for_sms("Hello.\n1 Yes\n2 No") == ["Hello.\n1 Yes\n2 No"]


def test_a_sentence_longer_than_two_segments_is_split_on_words() -> None:
    parts = split_for_sms("word " * 200)
    assert all(septets(part) <= TWO_SEGMENTS for part in parts)
    assert " ".join(parts).split() == ["word"] * 200
