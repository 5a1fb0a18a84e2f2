"""Running store work for an action off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from careprep.preparation.progress import find_by_sender
from careprep.store import session_scope
from careprep.store.models import Preparation

T = TypeVar("T")


async def with_preparation(sender_id: str, work: Callable[[Session, Preparation | None], T]) -> T:
    """Run ``work`` with the sender's preparation in one transaction, in a worker thread."""

    def run() -> T:
        with session_scope() as session:
            return work(session, find_by_sender(session, sender_id))

    return await asyncio.to_thread(run)
