"""The process edge: the Rasa server, the action server, the web app and the worker.

``careprep up`` starts all four, watches them and stops them together: if one dies,
the others are stopped and the command exits non-zero, naming the process and
showing the last lines it printed. ``RasaServers`` starts the first two exactly
the same way for the tests and the bench.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.model import rasa_command, train_if_needed
from careprep import yamltext
from careprep.settings import Settings
from careprep.store.migrate import upgrade

READY_TIMEOUT_SECONDS = 300
STOP_GRACE_SECONDS = 10
POLL_SECONDS = 1.0
QUIET = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
}
"""Environment that keeps Rasa and TensorFlow from phoning home and from filling the logs."""


def free_ports(count: int) -> list[int]:
    """Return ``count`` different TCP ports on loopback that nothing listens on now."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


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

    @classmethod
    def free(cls) -> Ports:
        """Pick ports that nothing listens on, for servers that run beside others."""
        rasa, actions, web = free_ports(3)
        return cls(rasa=rasa, actions=actions, web=web)


@dataclass
class Child:
    """A supervised process and the last lines it printed."""

    name: str
    command: list[str]
    ready_url: str | None
    log: Path | None = None
    """Where its output goes; without one, each line is printed after the process's name."""
    process: subprocess.Popen[str] | None = None
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=15))

    def start(self, env: Mapping[str, str], cwd: Path) -> None:
        """Start the process in its own process group and pass its output on."""
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        threading.Thread(target=self._forward, daemon=True).start()

    def _forward(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log.open("a", encoding="utf-8") if self.log else contextlib.nullcontext() as sink:
            for line in self.process.stdout:
                self.tail.append(line.rstrip())
                if sink is None:
                    print(f"[{self.name}] {line.rstrip()}", flush=True)
                else:
                    sink.write(line)
                    sink.flush()

    def ready(self) -> bool:
        """Whether it answers at its ready URL (a process without one is ready once started)."""
        if self.ready_url is None:
            return True
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def ask_to_stop(self) -> None:
        """Send SIGTERM to its process group, if it is still running."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def wait_or_kill(self) -> None:
        """Wait for it to stop; kill its process group if it has not within the grace period."""
        if self.process is None:
            return
        try:
            self.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class ProcessStopped(Exception):
    """A supervised process ended by itself."""

    def __init__(self, child: Child, code: int) -> None:
        super().__init__(f"the {child.name} process stopped (exit status {code})")
        self.child = child


class NotReady(Exception):
    """Processes that did not answer at their ready URL in time."""


def check_running(children: list[Child]) -> None:
    """Raise ``ProcessStopped`` for the first child that has ended."""
    for child in children:
        assert child.process is not None
        code = child.process.poll()
        if code is not None:
            raise ProcessStopped(child, code)


def wait_until_ready(
    children: list[Child], seconds: float, stopping: threading.Event | None = None
) -> None:
    """Return once every child is ready, or ``stopping`` is set; raise if one ends or time is up."""
    deadline = time.monotonic() + seconds
    waiting = list(children)
    while stopping is None or not stopping.is_set():
        check_running(children)
        waiting = [child for child in waiting if not child.ready()]
        if not waiting:
            return
        if time.monotonic() > deadline:
            names = ", ".join(child.name for child in waiting)
            raise NotReady(f"{names} did not become ready in time")
        time.sleep(POLL_SECONDS)


def ready_or_stop(children: list[Child], what: str, stop: Callable[[], None]) -> None:
    """Wait until every child answers; else ``stop`` them and raise with their last lines."""
    try:
        wait_until_ready(children, READY_TIMEOUT_SECONDS)
    except (ProcessStopped, NotReady) as problem:
        stop()
        lines = [f"[{child.name}] {line}" for child in children for line in child.tail]
        raise RuntimeError("\n".join([f"{what} did not start: {problem}", *lines])) from problem


def stop_all(children: list[Child]) -> None:
    """Ask every child to stop, then wait for each (killing those that take too long)."""
    for child in children:
        child.ask_to_stop()
    for child in children:
        child.wait_or_kill()


def endpoints_file(
    ports: Ports, folder: Path, root: Path, lock_store: Mapping[str, object] | None = None
) -> Path:
    """Write the project's endpoints.yml with this run's action server port into ``folder``.

    ``lock_store``, if given, is the ``lock_store`` section to add (several Rasa servers share one).
    """
    endpoints = yamltext.load((root / "endpoints.yml").read_text())
    endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{ports.actions}/webhook"
    if lock_store is not None:
        endpoints["lock_store"] = dict(lock_store)
    path = folder / "endpoints.yml"
    path.write_text(yaml.safe_dump(endpoints))
    return path


def rasa_server(
    name: str,
    model: Path,
    port: int,
    endpoints: Path,
    root: Path,
    log: Path | None = None,
    interface: str | None = None,
) -> Child:
    """Return a Rasa server for ``model`` on ``port`` (on every interface unless one is given)."""
    where = ["--interface", interface] if interface else []
    return Child(
        name,
        rasa_command(
            "run",
            "--model",
            str(model),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(root / "credentials.yml"),
            *where,
            "--port",
            str(port),
        ),
        f"http://127.0.0.1:{port}/",
        log,
    )


def action_server(name: str, port: int, log: Path | None = None) -> Child:
    """Return an action server running bot.actions on ``port``."""
    return Child(
        name,
        rasa_command("run", "actions", "--actions", "bot.actions", "--port", str(port)),
        f"http://127.0.0.1:{port}/health",
        log,
    )


def rasa_processes(
    model: Path, ports: Ports, endpoints: Path, root: Path, logs: Path | None = None
) -> list[Child]:
    """Return the Rasa server and the action server; their output goes under ``logs`` if given."""
    return [
        rasa_server(
            "rasa", model, ports.rasa, endpoints, root, logs / "rasa.log" if logs else None
        ),
        action_server("actions", ports.actions, logs / "actions.log" if logs else None),
    ]


def web_command(port: int) -> list[str]:
    """Return the command that serves the web app on a port."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "web.app:serve",
        "--port",
        str(port),
        "--ws",
        "none",
        # Access logs would record invitation tokens, which open a record.
        "--no-access-log",
    ]


def all_processes(model: Path, ports: Ports, endpoints: Path, root: Path) -> list[Child]:
    """Return the four processes of a running careprep."""
    python = sys.executable
    web = web_command(ports.web)
    return [
        *rasa_processes(model, ports, endpoints, root),
        Child("web", web, f"http://127.0.0.1:{ports.web}/health"),
        Child("worker", [python, "-m", "careprep.cli", "worker"], None),
    ]


def run_everything(settings: Settings, root: Path = Path(".")) -> int:
    """Migrate, train if needed, start everything and supervise until Ctrl-C or a failure."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    model = train_if_needed(root)
    ports = Ports.from_environment()
    processes = all_processes(model, ports, endpoints_file(ports, settings.var_dir, root), root)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    for child in processes:
        child.start({**os.environ, **QUIET}, root)
    print(
        "careprep is starting (the Rasa server takes about a minute to load the model):\n"
        f"  web app        http://localhost:{ports.web}/\n"
        f"  Rasa REST      http://localhost:{ports.rasa}/webhooks/rest/webhook\n"
        f"  action server  http://localhost:{ports.actions}/health\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    return supervise(processes, stopping)


def supervise(processes: list[Child], stopping: threading.Event) -> int:
    """Wait for the started processes to be ready, then watch them until Ctrl-C or ``stopping``.

    If one ends by itself (or they are not ready in time), say which and stop the others:
    return 1. Otherwise stop them all and return 0.
    """
    try:
        wait_until_ready(processes, READY_TIMEOUT_SECONDS, stopping)
        if not stopping.is_set():
            print("careprep is ready.", flush=True)
        while not stopping.is_set():
            check_running(processes)
            time.sleep(POLL_SECONDS)
    except ProcessStopped as stopped:
        stop_all(processes)
        print(f"careprep: {stopped}.", file=sys.stderr)
        if stopped.child.tail:
            print("Its last lines were:\n  " + "\n  ".join(stopped.child.tail), file=sys.stderr)
        print("careprep: stopped the other processes.", file=sys.stderr)
        return 1
    except NotReady as late:
        stop_all(processes)
        print(f"careprep: {late}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print("Stopping careprep...", flush=True)
    stop_all(processes)
    return 0


@dataclass
class Reply:
    """What the patient sees after one message: the texts, and each text's buttons."""

    texts: list[str]
    buttons: list[list[str]]

    @property
    def last(self) -> str:
        """Return the last text, or an empty one when the assistant said nothing."""
        return self.texts[-1] if self.texts else ""

    def __contains__(self, words: str) -> bool:
        """Whether any of the texts contains ``words``."""
        return any(words in text for text in self.texts)


@dataclass
class RasaServers:
    """The Rasa server and the action server on free ports, as ``careprep up`` starts them.

    For the tests and the bench: ``start`` returns once both answer, and each
    process's output goes to ``<workdir>/<name>.log``.
    """

    database_url: str
    workdir: Path
    root: Path = Path(".")
    environment: dict[str, str] = field(default_factory=dict)
    """More environment for both processes, beside the store and var/ set from the fields."""
    model: Path | None = None
    """The trained model to serve; by default the current one, trained if it is missing."""
    ports: Ports | None = None
    processes: list[Child] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """The environment both processes get (also right for running ``careprep`` on the store)."""
        return {
            **os.environ,
            **QUIET,
            "DATABASE_URL": self.database_url,
            "CAREPREP_VAR_DIR": str(self.workdir / "var"),
            **self.environment,
        }

    @property
    def rasa_url(self) -> str:
        """The Rasa server's base URL."""
        assert self.ports is not None, "the servers are not started"
        return f"http://127.0.0.1:{self.ports.rasa}"

    def start(self) -> None:
        """Migrate the store, start both servers and return once both answer."""
        upgrade(self.database_url)
        model = self.model or train_if_needed(self.root)
        self.ports = Ports.free()
        endpoints = endpoints_file(self.ports, self.workdir, self.root)
        self.processes = rasa_processes(model, self.ports, endpoints, self.root, self.workdir)
        for child in self.processes:
            child.start(self.env, self.root)
        ready_or_stop(self.processes, "The Rasa servers", self.stop)

    def stop(self) -> None:
        """Stop both servers."""
        stop_all(self.processes)

    def restart(self) -> None:
        """Stop both servers and start them again (on new ports)."""
        self.stop()
        self.start()

    def server(self, name: str) -> Child:
        """Return the ``rasa`` or the ``actions`` server."""
        [child] = [child for child in self.processes if child.name == name]
        return child

    def pid(self, name: str) -> int:
        """Return the process id of the ``rasa`` or the ``actions`` server."""
        process = self.server(name).process
        assert process is not None, "the servers are not started"
        return process.pid

    def stop_server(self, name: str) -> None:
        """Stop one of the two servers, leaving the other running."""
        stop_all([self.server(name)])

    def start_server(self, name: str) -> None:
        """Start a stopped server again, on its own port, and return once it answers."""
        child = self.server(name)
        child.start(self.env, self.root)
        wait_until_ready([child], READY_TIMEOUT_SECONDS)

    def say(self, sender: str, text: str) -> Reply:
        """Send ``text`` as ``sender`` through Rasa's REST channel; return what came back."""
        request = urllib.request.Request(
            f"{self.rasa_url}/webhooks/rest/webhook",
            data=json.dumps({"sender": sender, "message": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            messages = json.loads(response.read())
        return Reply(
            texts=[message.get("text", "") for message in messages],
            buttons=[
                [button["title"] for button in message.get("buttons", [])] for message in messages
            ],
        )
