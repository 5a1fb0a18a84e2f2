"""A conversation's transcript, read from Rasa's tracker store table without loading Rasa.

Every channel's turns of one preparation share one sender id, so the transcript holds
the SMS and the web chat messages alike, in order. Only plain SQL on Rasa's ``events``
table is used (``bot.tracker_store`` writes it), so the web app can show a transcript
without importing Rasa or TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, func, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

EVENTS = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("data", Text),
)
"""The columns of Rasa's SQL tracker store that a transcript needs."""

CHANNEL_NAMES = {"sms": "sms", "rest": "web"}
"""Rasa's input channel names as the transcript names them."""


@dataclass(frozen=True)
class Line:
    """One message: from the patient (``by_patient``) or from careprep, with its options."""

    event_id: int
    by_patient: bool
    text: str
    at: datetime
    channel: str | None = None
    options: tuple[str, ...] = field(default_factory=tuple)


def _line(event_id: int, type_name: str, timestamp: float, data: str) -> Line | None:
    try:
        event = json.loads(data)
    except (TypeError, ValueError):
        return None
    text = event.get("text") or ""
    at = datetime.fromtimestamp(timestamp or 0, timezone.utc)
    if type_name == "user":
        if not text or text.startswith("/"):  # an intent sent by the web app, not typed
            return None
        channel = CHANNEL_NAMES.get(event.get("input_channel") or "", None)
        return Line(event_id, True, text, at, channel)
    buttons = (event.get("data") or {}).get("buttons") or []
    options = tuple(str(button.get("title", "")) for button in buttons if button.get("title"))
    if not text and not options:
        return None
    return Line(event_id, False, text, at, options=options)


def transcript(session: Session, sender_id: str, after: int = 0) -> list[Line]:
    """Return the conversation's messages after event ``after``, oldest first."""
    query = (
        select(EVENTS.c.id, EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
        .where(
            EVENTS.c.sender_id == sender_id,
            EVENTS.c.type_name.in_(("user", "bot")),
            EVENTS.c.id > after,
        )
        .order_by(EVENTS.c.id)
    )
    try:
        rows = session.execute(query).all()
    except (OperationalError, ProgrammingError):  # no conversation has been held yet
        session.rollback()
        return []
    lines = [_line(*row) for row in rows]
    return [line for line in lines if line is not None]


def messages_since(session: Session, sender_id: str, since: datetime) -> int:
    """Count the patient's messages in this conversation since ``since`` (any channel)."""
    query = select(func.count()).where(
        EVENTS.c.sender_id == sender_id,
        EVENTS.c.type_name == "user",
        EVENTS.c.timestamp >= since.timestamp(),
    )
    try:
        return int(session.execute(query).scalar_one())
    except (OperationalError, ProgrammingError):
        session.rollback()
        return 0
