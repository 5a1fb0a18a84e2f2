"""The careprep store: engine and sessions from one URL, which each process is given.

The URL comes from the settings a process reads once where it starts (``Settings.database_url``),
never from the environment down here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

SQLITE_POOL_SIZE = 5


def normalise_url(url: str) -> str:
    """Accept the common ``postgres://`` spelling for PostgreSQL."""
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented fix
    # is to turn it off here and emit BEGIN ourselves (see _sqlite_begin).
    # BEGIN IMMEDIATE takes the write lock up front, so a transaction that reads and then
    # writes waits (busy_timeout) for the other processes instead of failing at once.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """Return the (shared) engine for a database URL, creating a SQLite file's folder."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        pooled: dict[str, Any] = {}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # SQLAlchemy 1.4 opens a new SQLite connection for every session by default;
            # a pool keeps them (opening one, with its pragmas, cost more than a turn's reads).
            pooled = {"poolclass": QueuePool, "pool_size": SQLITE_POOL_SIZE}
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": 10}, **pooled
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True, future=True)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """Open a session on the store at ``url``, commit on success and roll back on error."""
    factory = sessionmaker(bind=engine_for(url), future=True)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
