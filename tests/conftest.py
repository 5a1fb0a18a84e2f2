"""Shared fixtures: real databases (SQLite and PostgreSQL) and a real Rasa stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg2
import pytest

from careprep.settings import Settings
from careprep.store.migrate import upgrade
from tests.factories import make_settings

if TYPE_CHECKING:
    from tests.rasa_stack import RasaStack

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get(
    "CAREPREP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def pytest_configure(config: pytest.Config) -> None:
    """Keep pytest-randomly's random order but not its reseeding before each test.

    Before each test it reseeds every registered seeder with the run's seed plus an offset, and
    spaCy's thinc registers one that hands that sum, which can pass 2**32, to numpy, which then
    refuses it: the test errors at random. The random order, which is what proves that no test
    leans on another, is unaffected.
    """
    config.option.randomly_reset_seed = False


def _postgres_running() -> bool:
    try:
        psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def ensure_postgres() -> None:
    """Start the local PostgreSQL cluster if it is not running (as the machine's docs say)."""
    if _postgres_running():
        return
    clusters = sorted(Path("/etc/postgresql").glob("*"))
    if shutil.which("pg_ctlcluster") and clusters:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", clusters[-1].name, "main", "start"],
            check=False,
        )
    if not _postgres_running():
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} and could not be started")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a running PostgreSQL server."""
    ensure_postgres()
    return POSTGRES_ADMIN_URL


def _create_postgres_database(admin_url: str) -> tuple[str, str]:
    name = f"careprep_test_{uuid.uuid4().hex[:10]}"
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return name, admin_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres_database(admin_url: str, name: str) -> None:
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    connection.close()


@pytest.fixture
def postgres_database_url(postgres_server: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    name, url = _create_postgres_database(postgres_server)
    upgrade(url)
    try:
        yield url
    finally:
        from careprep.store import engine_for

        engine_for(url).dispose()
        _drop_postgres_database(postgres_server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated careprep store: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_database_url"))
    url = f"sqlite:///{tmp_path / 'careprep.db'}"
    upgrade(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for in-process code under test, on the test store (the environment is not read)."""
    return make_settings(database_url, tmp_path / "var")


@pytest.fixture(scope="session")
def rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaStack]:
    """The trained model served by a real Rasa server and action server, on SQLite."""
    from tests.rasa_stack import RasaStack

    workdir = tmp_path_factory.mktemp("rasa")
    stack = RasaStack(database_url=f"sqlite:///{workdir / 'careprep.db'}", workdir=workdir)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def rasa_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: str
) -> Iterator[RasaStack]:
    """The same stack with PostgreSQL as careprep store and Rasa tracker store."""
    from tests.rasa_stack import RasaStack

    name, url = _create_postgres_database(postgres_server)
    stack = RasaStack(database_url=url, workdir=tmp_path_factory.mktemp("rasa_pg"))
    stack.start()
    yield stack
    stack.stop()
    from careprep.store import engine_for

    engine_for(url).dispose()
    _drop_postgres_database(postgres_server, name)
