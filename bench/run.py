"""Measure careprep: training time, model load time, reply latency and memory.

Run with ``make bench``; the figures go in docs/performance.md. Traffic goes to
servers on loopback only, and every loop is bounded.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bot.model import rasa_command
from tests.rasa_stack import ROOT, RasaStack
from tests.test_conversation import ANSWERS

PREPARATIONS = 10


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


def main() -> None:
    """Run every measurement and print the figures as JSON."""
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        training_seconds = time_training(workdir / "models")
        stack = RasaStack(database_url=f"sqlite:///{workdir / 'careprep.db'}", workdir=workdir)
        started = time.monotonic()
        stack.start()
        load_seconds = time.monotonic() - started
        latencies: list[float] = []
        try:
            for _ in range(PREPARATIONS):
                token = stack.invite()
                for text in ["hi", *(answer for _, answer in ANSWERS)]:
                    sent = time.monotonic()
                    stack.say(token, text)
                    latencies.append((time.monotonic() - sent) * 1000)
            rasa_pid, actions_pid = (process.pid for process in stack.processes[::-1])
            memory = {
                "rasa_server_mb": round(rss_megabytes(rasa_pid)),
                "action_server_mb": round(rss_megabytes(actions_pid)),
            }
        finally:
            stack.stop()
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
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
