"""Rasa's SQL tracker store on the careprep database (``DATABASE_URL``), in its own table.

Rasa's own store rebuilds a conversation from every event of its session on every
turn, so a turn costs more the longer the conversation. This one keeps the tracker
it saved last in memory and hands it back while it is still the latest state in
the database: the newest event id of the conversation is the same as when it was
saved. Another Rasa server that handled a turn in between (their turns are
serialised by the lock store) has written newer events, so this one reads the
database again; a turn that failed before saving never returns its tracker to
the cache. Anything that deletes a conversation's events must delete all of them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from bot.rasa_server import use_checked_schema
from careprep.settings import get_settings
from careprep.store import engine_for, normalise_url

CACHED_CONVERSATIONS = 2000
"""Trackers kept in memory, the most recently saved first (a few MB at most)."""


@dataclass
class Saved:
    """A tracker as it was saved, and the id of the newest event it had in the database then."""

    tracker: DialogueStateTracker
    newest_event_id: int


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
        use_checked_schema()
        url = normalise_url(host or get_settings().database_url)
        engine_for(url).dispose()  # creates a SQLite file's folder
        super().__init__(domain, host=url, event_broker=event_broker, **kwargs)
        if make_url(url).get_backend_name() == "sqlite":
            # The store's engine keeps its SQLite connections; Rasa's opens one per query.
            self.engine = engine_for(url)
            self.sessionmaker = sessionmaker(bind=self.engine)
        self.saved: OrderedDict[str, Saved] = OrderedDict()

    def newest_event_id(self, sender_id: str) -> int | None:
        """Return the id of a conversation's newest event in the database."""
        with self.session_scope() as session:
            newest = session.query(sa.func.max(self.SQLEvent.id)).filter(
                self.SQLEvent.sender_id == sender_id
            )
            return newest.scalar()

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """Return the tracker saved last if nothing newer is in the database, else read it."""
        saved = self.saved.pop(sender_id, None)
        if saved is not None and saved.newest_event_id == self.newest_event_id(sender_id):
            return saved.tracker
        return await super().retrieve(sender_id)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write the turn's new events, then keep the tracker for the conversation's next turn."""
        await super().save(tracker)
        if self.domain is None or _starts_a_session(tracker):
            return  # read from the database next time: it holds only the new session
        newest = self.newest_event_id(tracker.sender_id)
        if newest is not None:
            self.saved[tracker.sender_id] = Saved(tracker, newest)
            self.saved.move_to_end(tracker.sender_id)
            while len(self.saved) > CACHED_CONVERSATIONS:
                self.saved.popitem(last=False)


def _starts_a_session(tracker: DialogueStateTracker) -> bool:
    """Whether a session started after the tracker's first events (Rasa reads from it on)."""
    return any(isinstance(event, SessionStarted) for event in list(tracker.events)[2:])
