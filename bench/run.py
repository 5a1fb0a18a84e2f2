"""Measure careprep side by side with Rasa's starter assistant, in one run on one machine.

``make bench`` runs it; the figures go to ``var/bench/<time>.json`` (and
``var/bench/latest.json``) and a table is printed; docs/performance.md explains
them. Everything runs on loopback, started as ``careprep up`` starts it, and
every loop is bounded:

- training: careprep's model from an empty Rasa cache, then again with the cache
  warm; the starter's (``rasa init``); how long each server takes to answer;
- whole preparations by simulated patients at 1, 10 and 50 conversations at once,
  through the signed SMS webhook and the web chat, and the starter over REST with
  the same client; per turn latency (p50, p95, p99), turns a second, CPU per turn of
  each process, memory at rest and at peak; the order alternates between levels;
- turn cost against conversation length (fresh, 200 and 1,000 events);
- how the stores grow per completed preparation (rows and bytes);
- the worker's dispatch rate for 10,000 messages (``bench.dispatch``).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from itertools import count
from pathlib import Path
from typing import Any

import psycopg2

from bench.dispatch import measure_dispatch
from bench.load import (
    DOB,
    Channel,
    Measured,
    Patient,
    Rest,
    Sms,
    WebChat,
    drive,
    measure,
    rss_megabytes,
)
from bench.starter import SCRIPT as STARTER_SCRIPT
from bench.starter import Starter
from bot.model import rasa_command
from careprep.clinic.appointments import NewAppointment, add_appointment
from careprep.preparation.progress import find_by_sender
from careprep.scaleout import Cluster
from careprep.store import engine_for, session_scope
from careprep.store.migrate import upgrade
from careprep.store.models import PreparationStatus
from careprep.supervisor import (
    QUIET,
    READY_TIMEOUT_SECONDS,
    Child,
    RasaServers,
    free_ports,
    stop_all,
    wait_until_ready,
    web_command,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "var" / "bench"
CONCURRENCY = (1, 10, 50)
SERIAL_CONVERSATIONS = 5
"""Whole conversations run one after another for the "1 at a time" figures."""
LENGTHS = (0, 200, 1000)
LENGTH_TURNS = 20
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
AUTH_TOKEN = "bench-auth-token"
PUBLIC_URL = "https://bench.careprep.example"
PREPARATION = (
    "Yes",
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
"""A happy-path answer to every question of the preparation, after the first message."""
SCRIPTS: dict[str, Callable[[Patient], Sequence[str]]] = {
    "sms": lambda _: ("Hi", "{day}/{month}/{year}".format(**DOB), *PREPARATION),
    "web": lambda _: ("Hi", *PREPARATION),
    "starter": lambda _: STARTER_SCRIPT,
}
"""What each simulated patient sends: by SMS the date of birth is checked in the conversation."""
_PHONES = count(1)


def train_seconds(out: Path, cache: Path) -> float:
    """Train careprep's model into ``out`` with Rasa's cache at ``cache``; return the seconds.

    ``out`` must hold no model yet (else Rasa sees the same data and trains nothing);
    every component found in the cache is reused, as after a change to the domain alone.
    """
    started = time.monotonic()
    subprocess.run(
        rasa_command(
            "train",
            *("--config", "config.yml", "--domain", "domain.yml", "--data", "bot/data"),
            *("--out", str(out), "--fixed-model-name", "bench"),
        ),
        cwd=ROOT,
        env={**os.environ, **QUIET, "RASA_CACHE_DIRECTORY": str(cache)},
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def book(database_url: str, number: int) -> Patient:
    """Book a patient's appointment; return the patient as the load client knows them."""
    phone = f"07700 9{next(_PHONES):05d}"
    at = datetime.now(timezone.utc) + timedelta(days=10, minutes=15 * number)
    with session_scope(database_url) as session:
        appointment, _ = add_appointment(
            session,
            NewAppointment(
                practice="Bench Surgery",
                patient_name=f"Bench Patient {number}",
                phone=phone,
                dob="{year}-{month:0>2}-{day:0>2}".format(**DOB),
                at=at.isoformat(timespec="minutes"),
            ),
            "Europe/London",
        )
        preparation = appointment.preparation
        return Patient(str(preparation.invite_token), str(preparation.link_token), phone)


def completed(database_url: str, patients: Sequence[Patient]) -> int:
    """How many of these patients' preparations are complete."""
    with session_scope(database_url) as session:
        found = [find_by_sender(session, patient.sender) for patient in patients]
        return sum(1 for each in found if each and each.status == PreparationStatus.COMPLETE)


def table_sizes(path: Path) -> dict[str, tuple[int, int]]:
    """Return each table's rows and bytes (with its indexes) in a SQLite file."""
    with sqlite3.connect(path) as db:
        tables = [
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        pages = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        indexes = db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type='index'")
        for index, table in indexes.fetchall():
            pages[table] = pages.get(table, 0) + pages.pop(index, 0)
        return {
            table: (
                db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0],
                pages.get(table, 0),
            )
            for table in tables
        }


def growth(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], per: int) -> dict:
    """Return rows and bytes added per completed preparation: the tracker store and the rest."""
    rasa_tables = {"events"}
    result: dict[str, dict[str, float]] = {"careprep": {}, "rasa_tracker": {}}
    for part, tables in (("rasa_tracker", rasa_tables), ("careprep", set(after) - rasa_tables)):
        rows = sum(after[t][0] - before.get(t, (0, 0))[0] for t in tables if t in after)
        size = sum(after[t][1] - before.get(t, (0, 0))[1] for t in tables if t in after)
        result[part] = {"rows": round(rows / per, 1), "bytes": round(size / per)}
    return result


@dataclass
class Careprep:
    """careprep's Rasa server, action server and web app on a scratch SQLite store."""

    workdir: Path
    model: Path
    servers: RasaServers | None = None
    web: Child | None = None
    web_url: str = ""

    @property
    def database_url(self) -> str:
        """The scratch store."""
        return f"sqlite:///{self.workdir / 'careprep.db'}"

    def start(self) -> float:
        """Start every server; return the seconds until the Rasa server answered."""
        environment = {
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_URL": PUBLIC_URL,
            "CAREPREP_WEB_URL": "http://127.0.0.1",
        }
        self.servers = RasaServers(
            self.database_url, self.workdir, ROOT, environment, model=self.model
        )
        started = time.monotonic()
        self.servers.start()
        ready = time.monotonic() - started
        [port] = free_ports(1)
        self.web = Child("web", web_command(port), f"http://127.0.0.1:{port}/health")
        self.web.log = self.workdir / "web.log"
        self.web.start({**self.servers.env, "CAREPREP_RASA_URL": self.servers.rasa_url}, ROOT)
        wait_until_ready([self.web], READY_TIMEOUT_SECONDS)
        self.web_url = f"http://127.0.0.1:{port}"
        return ready

    @property
    def pids(self) -> dict[str, int]:
        """The process ids of the Rasa server, the action server and the web app."""
        assert self.servers is not None and self.web is not None and self.web.process is not None
        return {
            "rasa": self.servers.pid("rasa"),
            "actions": self.servers.pid("actions"),
            "web": self.web.process.pid,
        }

    def channel(self, name: str) -> Channel:
        """Return the SMS webhook, the web chat or Rasa's REST channel."""
        assert self.servers is not None
        if name == "sms":
            return Sms(self.servers.rasa_url, PUBLIC_URL, AUTH_TOKEN)
        if name == "web":
            return WebChat(self.web_url)
        return Rest(self.servers.rasa_url)

    def stop(self) -> None:
        """Stop every server."""
        if self.web is not None:
            stop_all([self.web])
        if self.servers is not None:
            self.servers.stop()


def figures_of(measured: Measured) -> dict[str, Any]:
    """Return a load run's figures."""
    load = measured.load
    return {
        "turns": load.turns,
        "p50_ms": round(load.percentile(0.50), 1),
        "p95_ms": round(load.percentile(0.95), 1),
        "p99_ms": round(load.percentile(0.99), 1),
        "turns_per_second": round(load.per_second, 1),
        "cpu_ms_per_turn": {name: round(ms, 1) for name, ms in measured.cpu_ms_per_turn.items()},
        "peak_rss_mb": {name: round(mb) for name, mb in measured.peak_rss_mb.items()},
        "unanswered": load.empty_replies,
    }


def run_loads(careprep: Careprep, starter: Starter, levels: Sequence[int]) -> tuple[dict, dict]:
    """Drive each channel at each concurrency, alternating the order; return figures, growth."""
    results: dict[str, dict[str, Any]] = {"sms": {}, "web": {}, "starter": {}}
    store_growth: dict = {}
    for level, concurrency in enumerate(levels):
        order = ["starter", "sms", "web"] if level % 2 == 0 else ["web", "sms", "starter"]
        conversations = max(concurrency, SERIAL_CONVERSATIONS)
        for name in order:
            if name == "starter":
                patients = [Patient(f"starter-{concurrency}-{n}") for n in range(conversations)]
                channel: Channel = Rest(f"http://127.0.0.1:{starter.port}")
                processes = {"rasa": starter.pid}
            else:
                patients = [book(careprep.database_url, n) for n in range(conversations)]
                channel = careprep.channel(name)
                processes = careprep.pids
            warm_up = [Patient(f"starter-warm-{level}")] if name == "starter" else None
            drive(channel, warm_up or [book(careprep.database_url, 0)], SCRIPTS[name], 1)
            before = table_sizes(careprep.workdir / "careprep.db") if name == "sms" else {}
            measured = measure(
                processes, partial(drive, channel, patients, SCRIPTS[name], concurrency)
            )
            if name != "starter":
                done = completed(careprep.database_url, patients)
                if done != len(patients):
                    raise SystemExit(
                        f"bench: {name} completed {done} of {len(patients)} preparations"
                    )
            if name == "sms" and concurrency == max(levels):
                after = table_sizes(careprep.workdir / "careprep.db")
                store_growth = growth(before, after, len(patients))
            results[name][str(concurrency)] = figures_of(measured)
            print(f"bench: {name} at {concurrency}: {results[name][str(concurrency)]}", flush=True)
    return results, store_growth


def events_of(database_url: str, sender: str) -> int:
    """How many tracker events a conversation has."""
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return int(
            db.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[0]
        )


def turn_cost_by_length(careprep: Careprep, lengths: Sequence[int]) -> dict[str, dict[str, float]]:
    """Time HELP turns in one conversation when fresh, at 200 and at 1,000 events."""
    patient = book(careprep.database_url, 9999)
    channel = careprep.channel("rest")
    results = {}
    drive(channel, [patient], lambda _: ("Hi", "Yes"), 1)
    for length in lengths:
        while events_of(careprep.database_url, patient.sender) < length:
            drive(channel, [patient], lambda _: ("HELP",) * 10, 1)
        events = events_of(careprep.database_url, patient.sender)
        measured = measure(
            careprep.pids, partial(drive, channel, [patient], lambda _: ("HELP",) * LENGTH_TURNS, 1)
        )
        results[str(length)] = {
            "events": events,
            "p50_ms": round(measured.load.percentile(0.5), 1),
            "rasa_cpu_ms_per_turn": round(measured.cpu_ms_per_turn["rasa"], 1),
            "actions_cpu_ms_per_turn": round(measured.cpu_ms_per_turn["actions"], 1),
        }
    return results


def administer(admin_url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE and DROP DATABASE) on a PostgreSQL server."""
    connection = psycopg2.connect(admin_url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def scale_out(
    model: Path, admin_url: str, workdir: Path, conversations: int
) -> dict[str, dict[str, Any]]:
    """Whole preparations by SMS, all at once, through nginx to one and to two of everything."""
    results = {}
    for instances in (1, 2):
        name = f"careprep_bench_{os.getpid()}_{instances}"
        administer(admin_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        upgrade(url)
        patients = [book(url, n) for n in range(conversations)]
        environment = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_URL": PUBLIC_URL}
        folder = workdir / f"scale-{instances}"
        with Cluster(url, folder, instances, ROOT, environment, model=model) as cluster:
            cluster.warm_up()
            channel = Sms(cluster.url, cluster.public_url, AUTH_TOKEN)
            script = partial(drive, channel, patients, SCRIPTS["sms"], len(patients))
            measured = measure(cluster.pids, script)
        done = completed(url, patients)
        engine_for(url).dispose()
        administer(admin_url, f'DROP DATABASE IF EXISTS "{name}"')
        if done != len(patients):
            raise SystemExit(f"bench: {instances} instances completed {done} of {len(patients)}")
        results[str(instances)] = {
            "turns": measured.load.turns,
            "p50_ms": round(measured.load.percentile(0.5), 1),
            "p95_ms": round(measured.load.percentile(0.95), 1),
            "turns_per_second": round(measured.load.per_second, 1),
            "cpu_ms_per_turn_all_processes": round(sum(measured.cpu_ms_per_turn.values()), 1),
        }
        print(f"bench: scale-out, {instances} instance(s): {results[str(instances)]}", flush=True)
    return results


def ratio(ours: float, theirs: float) -> float:
    """Return ours / theirs, to two places."""
    return round(ours / theirs, 2) if theirs else 0.0


def table(figures: dict[str, Any]) -> str:
    """Return the figures as a plain-text table, careprep against the starter."""
    lines = ["", "channel  at  p50 ms  p95 ms  p99 ms  turns/s  CPU ms/turn (Rasa, actions, web)"]
    loads = figures["load"]
    for concurrency in loads["starter"]:
        for name in ("starter", "sms", "web"):
            row = loads[name][concurrency]
            cpu = ", ".join(f"{value}" for value in row["cpu_ms_per_turn"].values())
            lines.append(
                f"{name:8} {concurrency:>3} {row['p50_ms']:7} {row['p95_ms']:7} {row['p99_ms']:7}"
                f" {row['turns_per_second']:8}  {cpu}"
            )
    lines.append("")
    lines.append("ratio to the starter (p50 / throughput):")
    for name, ratios in figures["ratio_to_starter"].items():
        lines.append(
            f"  {name}: "
            + "; ".join(f"at {c}: {r['p50']} / {r['throughput']}" for c, r in ratios.items())
        )
    lines.append("")
    for row in figures["turn_cost_by_length"].values():
        lines.append(
            f"conversation at {row['events']} events: p50 {row['p50_ms']} ms,"
            f" Rasa CPU {row['rasa_cpu_ms_per_turn']} ms a turn"
        )
    names = ("training", "memory_mb", "store_growth_per_preparation", "dispatch")
    for name in (*names, "scale_out_sms_50_at_once"):
        if name not in figures:
            continue
        lines.append(f"{name}: {json.dumps(figures[name])}")
    return "\n".join(lines)


def main() -> None:
    """Run every measurement, write the JSON and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dispatch-count", type=int, default=10_000, help="messages to send")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=CONCURRENCY, help="conversations at once"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CAREPREP_BENCH_POSTGRES", DEFAULT_POSTGRES),
        help="a PostgreSQL server's URL for the scale-out figures ('' to leave them out)",
    )
    parser.add_argument(
        "--lengths", type=int, nargs="+", default=LENGTHS, help="conversation lengths, in events"
    )
    arguments = parser.parse_args()
    figures: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
    }
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        cold = train_seconds(workdir / "models", workdir / "cache")
        warm = train_seconds(workdir / "models-again", workdir / "cache")
        starter = Starter(workdir / "starter")
        starter.create()
        careprep = Careprep(workdir / "careprep", workdir / "models" / "bench.tar.gz")
        careprep.workdir.mkdir()
        try:
            careprep_ready = careprep.start()
            [starter.port] = free_ports(1)
            starter_ready = starter.start(starter.port)
            at_rest = {name: round(rss_megabytes(pid)) for name, pid in careprep.pids.items()}
            at_rest["starter"] = round(rss_megabytes(starter.pid))
            loads, store_growth = run_loads(careprep, starter, arguments.concurrency)
            by_length = turn_cost_by_length(careprep, arguments.lengths)
        finally:
            careprep.stop()
            starter.stop()
        if arguments.postgres:
            figures["scale_out_sms_50_at_once"] = scale_out(
                careprep.model, arguments.postgres, workdir, max(arguments.concurrency)
            )
    figures["training"] = {
        "careprep_cold_s": round(cold, 1),
        "careprep_warm_cache_s": round(warm, 1),
        "starter_init_and_train_s": round(starter.training_seconds, 1),
        "careprep_rasa_and_actions_ready_s": round(careprep_ready, 1),
        "starter_ready_s": round(starter_ready, 1),
    }
    figures["load"] = loads
    figures["ratio_to_starter"] = {
        name: {
            c: {
                "p50": ratio(loads[name][c]["p50_ms"], loads["starter"][c]["p50_ms"]),
                "throughput": ratio(
                    loads[name][c]["turns_per_second"], loads["starter"][c]["turns_per_second"]
                ),
            }
            for c in loads[name]
        }
        for name in ("sms", "web")
    }
    careprep_rows = [row for name in ("sms", "web") for row in loads[name].values()]
    peak = {name: max(row["peak_rss_mb"][name] for row in careprep_rows) for name in careprep.pids}
    peak["starter"] = max(row["peak_rss_mb"]["rasa"] for row in loads["starter"].values())
    figures["memory_mb"] = {"at_rest": at_rest, "peak_under_load": peak}
    figures["turn_cost_by_length"] = by_length
    figures["store_growth_per_preparation"] = store_growth
    figures["dispatch"] = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{Path(scratch) / 'careprep.db'}"
            measured = measure_dispatch(url, count=arguments.dispatch_count, workers=workers)
        figures["dispatch"][f"workers_{workers}"] = measured
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(figures, indent=2)
    (RESULTS / f"{stamp}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(table(figures))
    print(f"\nbench: figures written to {RESULTS / f'{stamp}.json'}")


if __name__ == "__main__":
    main()
