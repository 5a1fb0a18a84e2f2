"""The tracker store keeps each conversation's last saved tracker, never a stale one.

Two stores on one database stand for two Rasa servers behind a load balancer,
whose turns for one patient the lock store serialises.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import tracker_store
from bot.rasa_server import validate_action_result
from bot.tracker_store import DatabaseUrlTrackerStore
from careprep.store.migrate import upgrade

DOMAIN = Domain.load(Path(__file__).resolve().parents[1] / "domain.yml")


@pytest.fixture
def store_url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def conversation(sender: str, *texts: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, DOMAIN.slots)
    for event in (ActionExecuted("action_session_start"), SessionStarted()):
        tracker.update(event)
    for text in texts:
        turn(tracker, text)
    return tracker


def turn(tracker: DialogueStateTracker, text: str) -> None:
    for event in (
        ActionExecuted("action_listen"),
        UserUttered(text),
        SlotSet("what_matters", text),
    ):
        tracker.update(event)


def texts(tracker: DialogueStateTracker | None) -> list[str]:
    assert tracker is not None
    return [event.text for event in tracker.events if isinstance(event, UserUttered)]


def retrieve(store: SQLTrackerStore, sender: str) -> DialogueStateTracker | None:
    return asyncio.run(store.retrieve(sender))


def save(store: SQLTrackerStore, tracker: DialogueStateTracker) -> None:
    asyncio.run(store.save(tracker))


def test_the_next_turn_gets_the_tracker_saved_last(store_url: str) -> None:
    store = DatabaseUrlTrackerStore(DOMAIN, store_url)
    saved = conversation("patient-1", "hi", "my garden")
    save(store, saved)
    assert retrieve(store, "patient-1") is saved
    from_database = retrieve(SQLTrackerStore(DOMAIN, host=store_url), "patient-1")
    assert texts(from_database) == ["hi", "my garden"]
    assert from_database is not None
    assert from_database.current_slot_values() == saved.current_slot_values()


def test_a_turn_on_another_server_is_read_from_the_database(store_url: str) -> None:
    first, second = (DatabaseUrlTrackerStore(DOMAIN, store_url) for _ in range(2))
    save(first, conversation("patient-1", "hi"))
    on_second = retrieve(second, "patient-1")
    assert on_second is not None
    turn(on_second, "my grandchildren")
    save(second, on_second)
    assert texts(retrieve(first, "patient-1")) == ["hi", "my grandchildren"]
    assert retrieve(SQLTrackerStore(DOMAIN, host=store_url), "patient-1") is not None


def test_a_turn_that_failed_before_saving_leaves_nothing_behind(store_url: str) -> None:
    store = DatabaseUrlTrackerStore(DOMAIN, store_url)
    save(store, conversation("patient-1", "hi"))
    failed = retrieve(store, "patient-1")
    assert failed is not None
    turn(failed, "never saved")
    assert texts(retrieve(store, "patient-1")) == ["hi"]


def test_a_new_session_is_read_as_rasa_reads_it(store_url: str) -> None:
    store = DatabaseUrlTrackerStore(DOMAIN, store_url)
    tracker = conversation("patient-1", "hi")
    new_session: list[Event] = [ActionExecuted("action_session_start"), SessionStarted()]
    for event in new_session:
        tracker.update(event)
    turn(tracker, "back again")
    save(store, tracker)
    expected = retrieve(SQLTrackerStore(DOMAIN, host=store_url), "patient-1")
    assert texts(retrieve(store, "patient-1")) == texts(expected) == ["back again"]


def test_memory_is_bounded(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracker_store, "CACHED_CONVERSATIONS", 2)
    store = DatabaseUrlTrackerStore(DOMAIN, store_url)
    for number in range(3):
        save(store, conversation(f"patient-{number}", "hi"))
    assert list(store.saved) == ["patient-1", "patient-2"]
    assert texts(retrieve(store, "patient-0")) == ["hi"]


def test_action_server_responses_are_still_checked_against_rasa_s_schema() -> None:
    DatabaseUrlTrackerStore(DOMAIN, "sqlite://")  # as the Rasa server starts
    assert RemoteAction._validate_action_result is validate_action_result
    good = {"events": [{"event": "slot", "name": "what_matters", "value": "x"}], "responses": []}
    assert validate_action_result(RemoteAction("validate_preparation_form", None), good)
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        validate_action_result(RemoteAction("validate_preparation_form", None), {"events": "x"})
