"""A real Rasa server and action server on free ports, with the trained model and a real store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.model import rasa_command, train_if_needed
from bot.store import session_scope
from bot.store.migrate import upgrade
from tests.factories import book

ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    """What the patient sees after one message."""

    texts: list[str]
    buttons: list[list[str]]

    @property
    def last(self) -> str:
        return self.texts[-1] if self.texts else ""

    def __contains__(self, words: str) -> bool:
        return any(words in text for text in self.texts)


@dataclass
class RasaStack:
    """The two Rasa processes of careprep, started from the real command lines."""

    database_url: str
    workdir: Path
    model: Path = field(default_factory=lambda: train_if_needed(ROOT))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    rasa_port: int = 0

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "CAREPREP_VAR_DIR": str(self.workdir / "var"),
            "CAREPREP_WEB_URL": "http://careprep.test",
            "RASA_TELEMETRY_ENABLED": "false",
        }

    def start(self) -> None:
        upgrade(self.database_url)
        actions_port, self.rasa_port = free_port(), free_port()
        endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text())
        endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{actions_port}/webhook"
        endpoints_file = self.workdir / "endpoints.yml"
        endpoints_file.write_text(yaml.safe_dump(endpoints))
        commands = {
            "actions": rasa_command(
                "run", "actions", "--actions", "bot.actions", "--port", str(actions_port)
            ),
            "rasa": rasa_command(
                "run",
                "--model",
                str(self.model),
                "--endpoints",
                str(endpoints_file),
                "--credentials",
                str(ROOT / "credentials.yml"),
                "--port",
                str(self.rasa_port),
            ),
        }
        for name, command in commands.items():
            log = (self.workdir / f"{name}.log").open("ab")
            self.processes.append(
                subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
            )
        self._wait(f"http://127.0.0.1:{actions_port}/health")
        self._wait(f"http://127.0.0.1:{self.rasa_port}/")

    def _wait(self, url: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self.processes):
                break
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(1)
        logs = "\n".join(path.read_text()[-3000:] for path in sorted(self.workdir.glob("*.log")))
        self.stop()
        raise RuntimeError(f"{url} did not come up:\n{logs}")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    def restart(self) -> None:
        self.stop()
        self.start()

    def invite(self, **patient: Any) -> str:
        """Book an appointment; return the invite token (the conversation's sender id)."""
        with session_scope(self.database_url) as session:
            return str(book(session, **patient).preparation.invite_token)

    def appointment_id(self, token: str) -> int:
        from bot.preparation import find_by_sender

        with session_scope(self.database_url) as session:
            preparation = find_by_sender(session, token)
            assert preparation is not None
            return int(preparation.appointment_id)

    def say(self, sender: str, text: str) -> Reply:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook",
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

    def export(self, token: str, form: str = "text") -> str:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("careprep")),
                "export",
                str(self.appointment_id(token)),
                "--format",
                form,
            ],
            capture_output=True,
            text=True,
            env=self.env,
            check=True,
        )
        return result.stdout
