"""Rasa's own starter assistant (``rasa init``), trained and served by the same Rasa, to compare.

It has no action server and no store: every reply is a response from its domain,
chosen by its default pipeline (DIET, response selector) and policies (memoization,
rules, TED). The same load client drives it over Rasa's REST channel.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bot.model import rasa_command
from careprep.supervisor import QUIET, READY_TIMEOUT_SECONDS, Child, stop_all, wait_until_ready

SCRIPT = (
    "hi",
    "I am great",
    "bye",
    "hello",
    "I am sad",
    "yes",
    "hey",
    "very good",
    "goodbye",
    "good morning",
    "not good",
    "no",
    "are you a bot?",
    "hi there",
    "extremely sad",
    "yes",
    "bye",
)
"""Seventeen messages, as many as a careprep preparation, from the starter's own intents."""


@dataclass
class Starter:
    """The starter assistant in a scratch folder."""

    folder: Path
    training_seconds: float = 0.0
    port: int = 0
    server: Child | None = None

    def create(self) -> None:
        """Create the project and train it (``rasa init --no-prompt`` does both), timed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        subprocess.run(
            rasa_command("init", "--no-prompt", "--init-dir", str(self.folder)),
            cwd=self.folder,
            env={**os.environ, **QUIET},
            check=True,
            capture_output=True,
        )
        self.training_seconds = time.monotonic() - started

    def start(self, port: int) -> float:
        """Serve its model over REST on ``port``; return the seconds until it answered."""
        command = rasa_command(
            "run", "--model", "models", "--credentials", "credentials.yml", "--port", str(port)
        )
        self.server = Child("starter", command, f"http://127.0.0.1:{port}/", self.folder / "log")
        started = time.monotonic()
        self.server.start({**os.environ, **QUIET}, self.folder)
        wait_until_ready([self.server], READY_TIMEOUT_SECONDS)
        return time.monotonic() - started

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.server is not None and self.server.process is not None
        return self.server.process.pid

    def stop(self) -> None:
        """Stop the server."""
        if self.server is not None:
            stop_all([self.server])
