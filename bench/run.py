"""Measure careprep: training time, model load time, reply latency, memory, dispatch rate.

Run with ``make bench``; the figures go in docs/performance.md. The servers are
started as ``careprep up`` starts them (``careprep.supervisor.RasaServers``),
traffic goes to them on loopback only, and every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.dispatch import measure_dispatch
from bot.model import rasa_command
from careprep.clinic.appointments import NewAppointment, add_appointment
from careprep.preparation.progress import find_by_sender
from careprep.store import session_scope
from careprep.store.models import PreparationStatus
from careprep.supervisor import RasaServers

ROOT = Path(__file__).resolve().parents[1]
PREPARATIONS = 10
CONVERSATION = (
    "hi",
    "yes",
    "My grandchildren and my garden",
    "I walk to church every Sunday",
    "My knees hurt on the stairs",
    "No pain and a visit from my son",
    "Walk to the shops without stopping",
    "Sleep through the night",
    "no",
    "2 4 my knees",
    "Can I take ibuprofen with my tablets?",
    "My daughter Jo. I'd like her to come with me.",
    "six",
    "4",
    "Every 6 months",
    "yes",
    "yes",
)
"""What one patient sends: the first message, then a happy-path answer to every question."""


def rss_megabytes(pid: int) -> float:
    """Return the resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for one in pids:
        status = Path(f"/proc/{one}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def time_training(out: Path) -> float:
    """Train a fresh model, with an empty training cache, and return the seconds it took."""
    environment = {**os.environ, "RASA_CACHE_DIRECTORY": str(out / "cache")}
    started = time.monotonic()
    subprocess.run(
        rasa_command(
            "train",
            "--config",
            "config.yml",
            "--domain",
            "domain.yml",
            "--data",
            "bot/data",
            "--out",
            str(out),
            "--fixed-model-name",
            "bench",
        ),
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def invite(database_url: str, number: int) -> str:
    """Book the ``number``-th patient's appointment; return its invite token (the sender id)."""
    at = datetime.now(timezone.utc) + timedelta(days=10, minutes=15 * number)
    with session_scope(database_url) as session:
        appointment, _ = add_appointment(
            session,
            NewAppointment(
                practice="Bench Surgery",
                patient_name=f"Bench Patient {number}",
                phone=f"07700 900{100 + number:03d}",
                dob="1950-02-03",
                at=at.isoformat(timespec="minutes"),
            ),
            "Europe/London",
        )
        return str(appointment.preparation.invite_token)


def completed(database_url: str, token: str) -> bool:
    """Whether the preparation of this invite token is complete."""
    with session_scope(database_url) as session:
        preparation = find_by_sender(session, token)
        return preparation is not None and preparation.status == PreparationStatus.COMPLETE


def main() -> None:
    """Run every measurement and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--preparations",
        type=int,
        default=PREPARATIONS,
        help=f"whole preparations to time (default {PREPARATIONS})",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        training_seconds = time_training(workdir / "models")
        database_url = f"sqlite:///{workdir / 'careprep.db'}"
        servers = RasaServers(database_url, workdir, root=ROOT)
        started = time.monotonic()
        servers.start()
        load_seconds = time.monotonic() - started
        latencies: list[float] = []
        try:
            for number in range(arguments.preparations):
                token = invite(database_url, number)
                for text in CONVERSATION:
                    sent = time.monotonic()
                    servers.say(token, text)
                    latencies.append((time.monotonic() - sent) * 1000)
                if not completed(database_url, token):
                    raise SystemExit("bench: the conversation no longer completes a preparation")
            memory = {
                "rasa_server_mb": round(rss_megabytes(servers.pid("rasa"))),
                "action_server_mb": round(rss_megabytes(servers.pid("actions"))),
            }
        finally:
            servers.stop()
    latencies.sort()
    figures = {
        "training_seconds": round(training_seconds, 1),
        "server_ready_seconds": round(load_seconds, 1),
        "messages": len(latencies),
        "reply_ms_median": round(statistics.median(latencies), 1),
        "reply_ms_p95": round(latencies[int(len(latencies) * 0.95) - 1], 1),
        "reply_ms_max": round(latencies[-1], 1),
        **memory,
    }
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{Path(scratch) / 'careprep.db'}"
            measured = measure_dispatch(url, workers=workers)
        figures.update({f"{name}_{workers}": value for name, value in measured.items()})
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
