"""Rasa's Redis lock store, with each change to a conversation's lock made atomically.

Several Rasa servers share one Redis so that two messages of one patient that reach two
servers are handled one after the other, in the order their tickets were issued. Rasa's own
``RedisLockStore`` (``lock_store: type: redis``) reads a conversation's lock, changes it in
the server's memory and writes it back (``GET`` then ``SET``), so what two servers do at the
same moment is lost: both issue ticket 0 and run their turns on the same conversation at once,
or one writes back a ticket the other has just served and removed, or removes the other's new
ticket, and a message then waits for a ticket nobody holds (until the patient's next message
clears the lock). Measured here (issue 13): of 200 rounds in which two processes took one
conversation's lock at the same moment, 144 ran both at once; with three processes, 28 of 200
ran together and two turns were left waiting for a ticket nobody held (RasaHQ/rasa#9213).
Rasa Pro has a ``ConcurrentRedisLockStore``; Rasa Open Source 3.6 has none.

This store keeps Rasa's keys and lock format (a ``TicketLock`` as JSON under
``<key_prefix>:lock:<sender id>``) and changes them only inside a Redis transaction that
watches the key (``WATCH``/``MULTI``/``EXEC``, retried if another server changed the key
meanwhile), so of two servers each sees the other's ticket. A waiting message looks again
every ``POLL_SECONDS`` instead of every second.

endpoints.yml::

    lock_store:
      type: bot.lock_store.AtomicRedisLockStore
      url: 127.0.0.1
      port: 6379
      key_prefix: careprep
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

T = TypeVar("T")

POLL_SECONDS = 0.1
"""How often a message that waits for the conversation's lock looks again (Rasa: 1 second)."""


class AtomicRedisLockStore(RedisLockStore):
    """A ``RedisLockStore`` whose tickets are issued, served and removed atomically."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        """Connect as endpoints.yml says (``url`` is the host), or as ``RedisLockStore`` does."""
        if endpoint_config is not None:
            kwargs = {
                "host": endpoint_config.url or "localhost",
                **endpoint_config.kwargs,
                **kwargs,
            }
        super().__init__(**kwargs)

    def _change(
        self,
        conversation_id: str,
        change: Callable[[TicketLock | None], tuple[TicketLock | None, T]],
    ) -> T:
        """Apply ``change`` to the conversation's lock in one transaction; return its result.

        ``change`` gets the stored lock (or None) and returns the lock to store (None: delete
        it) and a result. If another server changes the key before the transaction commits,
        Redis refuses it and ``change`` runs again on what is stored then.
        """
        key = self.key_prefix + conversation_id
        results: list[T] = []

        def attempt(pipe: Any) -> None:
            stored = pipe.get(key)
            lock = TicketLock.from_dict(json.loads(stored)) if stored else None
            changed, result = change(lock)
            pipe.multi()
            if changed is not None:
                pipe.set(key, changed.dumps())
            elif stored:
                pipe.delete(key)
            results[:] = [result]

        self.red.transaction(attempt, key)
        return results[0]

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Issue the next ticket of the conversation's lock (creating the lock if need be)."""

        def issue(lock: TicketLock | None) -> tuple[TicketLock, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, issue)
        except Exception as problem:
            raise LockError(f"Error while acquiring lock. Error:\n{problem}") from problem

    def update_lock(self, conversation_id: str) -> None:
        """Remove the lock's expired tickets."""

        def expire(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, expire)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Remove a ticket from the lock."""

        def remove(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, remove)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove a ticket, and the lock too if no other ticket waits (in one transaction)."""

        def remove(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else None), None

        self._change(conversation_id, remove)

    def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = POLL_SECONDS,
    ) -> AbstractAsyncContextManager[TicketLock]:
        """Hold the conversation's lock, looking again every ``POLL_SECONDS`` while waiting."""
        held: AbstractAsyncContextManager[TicketLock] = super().lock(
            conversation_id, lock_lifetime, wait_time_in_seconds
        )
        return held
