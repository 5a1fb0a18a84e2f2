"""``careprep up``: start the four processes, watch them, and stop them together.

If one process dies, the others are stopped and the command exits non-zero,
naming the process and showing the last lines it printed.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.model import rasa_command, train_if_needed
from careprep.settings import Settings
from careprep.store.migrate import upgrade

READY_TIMEOUT_SECONDS = 300
STOP_GRACE_SECONDS = 10


@dataclass(frozen=True)
class Ports:
    """Where each server listens (CAREPREP_RASA_PORT, CAREPREP_ACTIONS_PORT, CAREPREP_WEB_PORT)."""

    rasa: int
    actions: int
    web: int

    @classmethod
    def from_environment(cls) -> Ports:
        """Read the ports, defaulting to 5005, 5055 and 8000."""
        return cls(
            rasa=int(os.environ.get("CAREPREP_RASA_PORT", "5005")),
            actions=int(os.environ.get("CAREPREP_ACTIONS_PORT", "5055")),
            web=int(os.environ.get("CAREPREP_WEB_PORT", "8000")),
        )


@dataclass
class Child:
    """A supervised process and the last lines it printed."""

    name: str
    command: list[str]
    ready_url: str | None
    process: subprocess.Popen[str] | None = None
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=15))

    def start(self, env: dict[str, str]) -> None:
        """Start the process, forwarding its output with a prefix."""
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        threading.Thread(target=self._forward, daemon=True).start()

    def _forward(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.tail.append(line.rstrip())
            print(f"[{self.name}] {line.rstrip()}", flush=True)

    def stop(self) -> None:
        """Ask the process to stop; kill it if it does not within the grace period."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def endpoints_file(ports: Ports, var_dir: Path) -> Path:
    """Write endpoints.yml with the action server's port, for this run."""
    endpoints = yaml.safe_load(Path("endpoints.yml").read_text())
    endpoints["action_endpoint"]["url"] = f"http://localhost:{ports.actions}/webhook"
    path = var_dir / "endpoints.yml"
    path.write_text(yaml.safe_dump(endpoints))
    return path


def children(model: Path, ports: Ports, endpoints: Path) -> list[Child]:
    """Return the four processes of a running careprep."""
    python = sys.executable
    return [
        Child(
            "rasa",
            rasa_command(
                "run",
                "--model",
                str(model),
                "--endpoints",
                str(endpoints),
                "--credentials",
                "credentials.yml",
                "--port",
                str(ports.rasa),
            ),
            f"http://localhost:{ports.rasa}/",
        ),
        Child(
            "actions",
            rasa_command(
                "run", "actions", "--actions", "bot.actions", "--port", str(ports.actions)
            ),
            f"http://localhost:{ports.actions}/health",
        ),
        Child(
            "web",
            [
                python,
                "-m",
                "uvicorn",
                "web.app:app",
                "--port",
                str(ports.web),
                "--ws",
                "none",
                # Access logs would record invitation tokens, which open a record.
                "--no-access-log",
            ],
            f"http://localhost:{ports.web}/health",
        ),
        Child("worker", [python, "-m", "careprep.cli", "worker"], None),
    ]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run_everything(settings: Settings) -> int:
    """Migrate, train if needed, start everything and supervise until Ctrl-C or a failure."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    model = train_if_needed()
    ports = Ports.from_environment()
    processes = children(model, ports, endpoints_file(ports, settings.var_dir))
    env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    for child in processes:
        child.start(env)
    print(
        "careprep is starting (the Rasa server takes about a minute to load the model):\n"
        f"  web app        http://localhost:{ports.web}/\n"
        f"  Rasa REST      http://localhost:{ports.rasa}/webhooks/rest/webhook\n"
        f"  action server  http://localhost:{ports.actions}/health\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    waiting = [child for child in processes if child.ready_url]
    started = time.monotonic()
    try:
        while not stopping.is_set():
            for child in processes:
                assert child.process is not None
                code = child.process.poll()
                if code is not None:
                    return _failed(child, code, processes)
            for child in list(waiting):
                if child.ready_url and _answers(child.ready_url):
                    waiting.remove(child)
                    if not waiting:
                        print("careprep is ready.", flush=True)
            if waiting and time.monotonic() - started > READY_TIMEOUT_SECONDS:
                names = ", ".join(child.name for child in waiting)
                print(f"careprep: {names} did not become ready in time", file=sys.stderr)
                _stop_all(processes)
                return 1
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    print("Stopping careprep...", flush=True)
    _stop_all(processes)
    return 0


def _failed(child: Child, code: int, processes: list[Child]) -> int:
    _stop_all(processes)
    print(f"careprep: the {child.name} process stopped (exit status {code}).", file=sys.stderr)
    if child.tail:
        print("Its last lines were:\n  " + "\n  ".join(child.tail), file=sys.stderr)
    print("careprep: stopped the other processes.", file=sys.stderr)
    return 1


def _stop_all(processes: list[Child]) -> None:
    for child in processes:
        child.stop()
