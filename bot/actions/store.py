"""The action server's settings, read once, and store work for an action off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from careprep.preparation.progress import find_by_sender
from careprep.settings import Settings, get_settings
from careprep.store import session_scope
from careprep.store.models import Preparation

T = TypeVar("T")


@dataclass
class _Configured:
    settings: Settings | None = None


_configured = _Configured()


def settings() -> Settings:
    """Return the action server's settings, read from the environment on first use."""
    if _configured.settings is None:
        _configured.settings = get_settings()
    return _configured.settings


def use_settings(chosen: Settings | None) -> None:
    """Give the actions these settings (a test's own); None reads the environment again."""
    _configured.settings = chosen


async def with_preparation(sender_id: str, work: Callable[[Session, Preparation | None], T]) -> T:
    """Run ``work`` with the sender's preparation in one transaction, in a worker thread."""
    database_url = settings().database_url

    def run() -> T:
        with session_scope(database_url) as session:
            return work(session, find_by_sender(session, sender_id))

    return await asyncio.to_thread(run)
