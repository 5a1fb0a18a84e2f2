"""Rasa's SQL tracker store on the careprep database (``DATABASE_URL``), in its own table."""

from __future__ import annotations

from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from careprep.settings import get_settings
from careprep.store import engine_for, normalise_url


class DatabaseUrlTrackerStore(SQLTrackerStore):
    """An SQL tracker store configured from ``DATABASE_URL`` rather than from endpoints.yml."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        """Connect to the database named by ``DATABASE_URL`` (SQLite by default)."""
        url = normalise_url(host or get_settings().database_url)
        engine_for(url).dispose()  # creates a SQLite file's folder
        super().__init__(domain, host=url, event_broker=event_broker, **kwargs)
