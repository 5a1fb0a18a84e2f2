"""Measure the worker's dispatch rate: due messages sent per second, rate limiting off.

The messages go through the real twilio client to a local Twilio-compatible endpoint
(the tests' fake, in a process of its own so that it does not share the worker's
interpreter), from a careprep store with ``count`` due messages. Run on its own with
``python -m bench.dispatch [--count N] [--database-url URL]``; ``make bench`` runs it too.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from careprep.clinic.appointments import NewAppointment, add_appointment
from careprep.messaging.worker import Dispatch, dispatch_due
from careprep.settings import Settings
from careprep.store import engine_for, session_scope
from careprep.store.migrate import upgrade
from careprep.store.models import OutboxMessage, utcnow
from integrations.sms.sender import SmsSender

ROOT = Path(__file__).resolve().parents[1]
COUNT = 10_000
ENDPOINT = """
import sys
from tests.fake_twilio import FakeTwilio
fake = FakeTwilio()
fake.start()
print(fake.base_url, fake.account_sid, fake.auth_token, flush=True)
sys.stdin.read()
"""


def fill_outbox(database_url: str, count: int) -> None:
    """Migrate the store and put ``count`` due messages in it (one practice, no quiet hours)."""
    upgrade(database_url)
    with session_scope(database_url) as session:
        appointment, _ = add_appointment(
            session,
            NewAppointment(
                "Bench Surgery",
                "Ann Example",
                "07700 900123",
                "1950-02-03",
                (utcnow() + timedelta(days=30)).isoformat(),
            ),
            "Europe/London",
        )
        appointment.practice.quiet_hours = "none"
        due = utcnow() - timedelta(minutes=1)
        session.add_all(
            OutboxMessage(
                patient_id=appointment.patient_id,
                kind="bench",
                body=f"Bench message {number}",
                due_at=due,
            )
            for number in range(count)
        )


def _dispatch_in_child(database_url: str, settings: Settings) -> None:
    """Run one worker in a forked process (its own connections, not the parent's)."""
    engine_for(database_url).dispose(close=False)
    dispatch_due(database_url, SmsSender(settings), dispatch=Dispatch(rate_limited=False))


def measure_dispatch(
    database_url: str, count: int = COUNT, workers: int = 1
) -> dict[str, float | int]:
    """Send ``count`` due messages to a local endpoint; return the rate and the outcome.

    With several ``workers``, each is a process of its own (forked, so none pays for
    importing careprep again), all claiming from the same outbox as deployed workers do.
    """
    fill_outbox(database_url, count)
    endpoint = subprocess.Popen(
        [sys.executable, "-c", ENDPOINT],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert endpoint.stdout is not None
        base_url, account_sid, auth_token = endpoint.stdout.readline().split()
        with tempfile.TemporaryDirectory() as scratch:
            settings = Settings(
                database_url=database_url,
                var_dir=Path(scratch),
                public_url="https://bench.example",
                web_url="https://bench.example",
                secret_key="bench",
                timezone="Europe/London",
                twilio_account_sid=account_sid,
                twilio_auth_token=auth_token,
                twilio_from_number="+447700900999",
                twilio_api_base_url=base_url,
            )
            started, cpu_started = time.monotonic(), time.process_time()
            worker_cpu = 0.0
            if workers == 1:
                dispatch_due(
                    database_url, SmsSender(settings), dispatch=Dispatch(rate_limited=False)
                )
                worker_cpu = time.process_time() - cpu_started
            else:
                forked = multiprocessing.get_context("fork")
                children = [
                    forked.Process(target=_dispatch_in_child, args=(database_url, settings))
                    for _ in range(workers)
                ]
                for child in children:
                    child.start()
                for child in children:
                    child.join()
            seconds = time.monotonic() - started
            endpoint_cpu = cpu_seconds(endpoint.pid)
    finally:
        endpoint.kill()
        endpoint.wait()
    with session_scope(database_url) as session:
        states = Counter(session.execute(select(OutboxMessage.state)).scalars())
    if states != {"sent": count}:
        raise SystemExit(f"bench: not every message was sent: {dict(states)}")
    figures: dict[str, float | int] = {
        "dispatch_workers": workers,
        "dispatch_messages": count,
        "dispatch_seconds": round(seconds, 2),
        "dispatch_messages_per_second": round(count / seconds),
        "dispatch_endpoint_cpu_ms_per_message": round(endpoint_cpu * 1000 / count, 2),
    }
    if workers == 1:
        figures["dispatch_worker_cpu_ms_per_message"] = round(worker_cpu * 1000 / count, 2)
    return figures


def cpu_seconds(pid: int) -> float:
    """Return the user and system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    """Measure on a scratch SQLite store (or the given URL) and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--database-url", help="an empty store to use (default: scratch SQLite)")
    arguments = parser.parse_args()
    if arguments.database_url:
        figures = measure_dispatch(arguments.database_url, arguments.count, arguments.workers)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{Path(scratch) / 'careprep.db'}"
            figures = measure_dispatch(url, arguments.count, arguments.workers)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
