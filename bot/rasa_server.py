"""What the Rasa server does for every custom action, done once instead of every time.

Rasa 3.6 checks each action server response against its schema with
``jsonschema.validate``, which first checks the *schema* against JSON Schema's
meta-schema: that second check, repeated for every action call, was about a
quarter of the Rasa server's CPU a turn (docs/performance.md). ``use_checked_schema``
replaces Rasa's check with the same check on a validator built once: every
response is still validated against the same schema, and an invalid one raises
the same ``ValidationError`` with Rasa's own message.

It is applied as the Rasa server builds its tracker store (``bot.tracker_store``),
the one piece of ours that every Rasa server loads at its start.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


@cache
def response_validator() -> Validator:
    """Return a validator for action server responses, the schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def validate_action_result(_action: RemoteAction, result: dict[str, Any]) -> bool:
    """Validate an action server response as Rasa does, against the validator built once."""
    error = best_match(response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, "
        "make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


def use_checked_schema() -> None:
    """Make the Rasa server validate action responses with the validator built once."""
    RemoteAction._validate_action_result = validate_action_result
