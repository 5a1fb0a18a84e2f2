"""Rasa's SQL tracker store on the careprep database (``DATABASE_URL``), in its own table."""

from __future__ import annotations

from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from careprep.settings import get_settings
from careprep.store import engine_for, normalise_url


class DatabaseUrlTrackerStore(SQLTrackerStore):
    """An SQL tracker store on the careprep store's database rather than one named in endpoints.yml.

    Rasa builds it once, as the Rasa server starts, from endpoints.yml (``type:
    bot.tracker_store.DatabaseUrlTrackerStore``), passing the endpoint's ``url`` as ``host``:
    that is the process start, so this is where the settings are read when no URL is given.
    """

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        """Connect to the database at ``host``, or else at the settings' ``database_url``."""
        url = normalise_url(host or get_settings().database_url)
        engine_for(url).dispose()  # creates a SQLite file's folder
        super().__init__(domain, host=url, event_broker=event_broker, **kwargs)
