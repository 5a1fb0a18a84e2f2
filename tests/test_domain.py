"""The Rasa domain and training data are held to the questionnaire and the command list."""

from pathlib import Path

import yaml

from bot.actions import slots
from careprep.preparation import messages
from careprep.preparation.commands import COMMAND_INTENTS, parse_command
from careprep.preparation.questionnaire import PREPARE, REVIEW, QuestionId

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
NLU = yaml.safe_load((ROOT / "bot/data/nlu.yml").read_text())["nlu"]


def examples(intent: str) -> list[str]:
    (block,) = [block for block in NLU if block.get("intent") == intent]
    return [line[2:].strip() for line in block["examples"].splitlines() if line.strip()]


def test_form_asks_the_questionnaire_in_order() -> None:
    assert slots.QUESTIONNAIRE == PREPARE
    review_only = [qid for qid in REVIEW.flow_ids if qid not in PREPARE.ids]
    assert DOMAIN["forms"][slots.FORM]["required_slots"] == [
        QuestionId.IDENTITY,
        *PREPARE.flow_ids,
        *review_only,
    ]


def test_every_question_has_a_slot_for_its_own_turn_and_no_ask_action() -> None:
    """The validation action asks each question: an ask action would be a second round trip."""
    for question in (*PREPARE.questions, *REVIEW.questions):
        assert f"action_ask_{question.id}" not in DOMAIN["actions"]
        assert f"utter_ask_{question.id}" not in DOMAIN["responses"]
        (mapping,) = DOMAIN["slots"][question.id]["mappings"]
        assert mapping["type"] == "from_text"
        assert mapping["conditions"] == [{"active_loop": slots.FORM, slots.REQUESTED: question.id}]
        assert sorted(mapping["not_intent"]) == sorted(COMMAND_INTENTS)


def test_the_conversation_slots_are_in_the_domain() -> None:
    for name in (
        slots.GOAL_LIST,
        slots.INVITED,
        slots.IDENTITY_LOCKED,
        slots.SAFETY_PAUSE,
        slots.QUESTIONNAIRE_ID,
        slots.GOALS_TO_REVIEW,
    ):
        assert DOMAIN["slots"][name]["mappings"] == [{"type": "custom"}]


def test_the_help_response_is_the_cores_help() -> None:
    assert DOMAIN["responses"]["utter_help"] == [{"text": messages.HELP}]


def test_command_examples_are_recognised_by_the_command_list() -> None:
    for intent in COMMAND_INTENTS:
        assert intent in DOMAIN["intents"]
        for example in examples(intent):
            command = parse_command(example)
            assert command is not None and command.intent == intent, example


def test_answer_examples_are_never_commands() -> None:
    for intent in ("inform", "greet", "affirm", "deny"):
        for example in examples(intent):
            assert parse_command(example) is None, example


def test_ask_actions_are_registered_with_the_action_server() -> None:
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("bot.actions")
    custom = [name for name in DOMAIN["actions"]]
    assert sorted(name for name in executor.actions if name in custom) == sorted(custom)
