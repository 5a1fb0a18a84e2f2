"""`careprep up`: everything starts, answers, and stops together."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.model import train_if_needed
from careprep.supervisor import Ports

pytestmark = pytest.mark.rasa
ROOT = Path(__file__).resolve().parents[1]
CAREPREP = str(Path(sys.executable).with_name("careprep"))


def environment(tmp_path: Path, ports: Ports) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'careprep.db'}",
        "CAREPREP_VAR_DIR": str(tmp_path / "var"),
        "CAREPREP_RASA_PORT": str(ports.rasa),
        "CAREPREP_ACTIONS_PORT": str(ports.actions),
        "CAREPREP_WEB_PORT": str(ports.web),
        "CAREPREP_WEB_URL": f"http://localhost:{ports.web}",
    }


def up(tmp_path: Path, ports: Ports) -> subprocess.Popen[str]:
    train_if_needed(ROOT)
    env = environment(tmp_path, ports)
    return subprocess.Popen(
        [CAREPREP, "up"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def serving(port: int) -> list[int]:
    """Return the ids of the running processes that were started to listen on ``port``."""
    wanted = ["--port", str(port)]
    found = []
    for process in Path("/proc").iterdir():
        try:
            command = (process / "cmdline").read_text().split("\0")
        except OSError:
            continue
        if any(command[at : at + 2] == wanted for at in range(len(command))):
            found.append(int(process.name))
    return found


def eventually(condition: Callable[[], object], seconds: float) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` have passed; return whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def left_running(port: int) -> list[int]:
    """Wait (up to 30 s) for the processes started for ``port`` to end; return any left."""
    eventually(lambda: not serving(port), 30)
    return serving(port)


def wait_for_line(process: subprocess.Popen[str], wanted: str, seconds: float) -> list[str]:
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if wanted in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    found.wait(seconds)
    assert found.is_set(), "".join(seen[-40:])
    return seen


def web_chat_opened(tmp_path: Path, ports: Ports) -> str:
    """Book an appointment, open its link, pass the date-of-birth check; return the chat page.

    The web app finds the Rasa server from the ports ``careprep up`` was given.
    """
    booked = subprocess.run(
        [CAREPREP, "appointment", "add", "--practice", "Hill Surgery", "--patient-name",
         "Ann Example", "--phone", "07700 900123", "--dob", "1950-02-03", "--at",
         "2099-12-10T10:30"],
        env=environment(tmp_path, ports), capture_output=True, text=True, check=True,
    )  # fmt: skip
    link = json.loads(booked.stdout)["invite_url"]
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(link, timeout=30) as page:
        form = page.read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf, form
    fields = {"day": "3", "month": "2", "year": "1950", "csrf_token": csrf.group(1)}
    with browser.open(f"{link}/check", urllib.parse.urlencode(fields).encode(), 60) as page:
        return str(page.read().decode())


def test_up_serves_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    ports = Ports.free()
    process = up(tmp_path, ports)
    try:
        seen = wait_for_line(process, "careprep is ready.", 240)
        assert any(f"http://localhost:{ports.web}/" in line for line in seen)
        request = urllib.request.Request(
            f"http://localhost:{ports.rasa}/webhooks/rest/webhook",
            data=json.dumps({"sender": "nobody", "message": "hello"}).encode(),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            reply = json.loads(response.read())
        assert "can't find an invitation" in reply[0]["text"]
        assert answers(f"http://localhost:{ports.web}/health")
        assert "Question 1 of 14" in web_chat_opened(tmp_path, ports)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    for port in (ports.rasa, ports.actions, ports.web):
        assert left_running(port) == []
        assert not answers(f"http://localhost:{port}/")


def test_when_one_process_dies_up_names_it_and_stops_the_rest(tmp_path: Path) -> None:
    ports = Ports.free()
    with socket.socket() as taken, ThreadPoolExecutor(1) as waiting:
        taken.bind(("127.0.0.1", ports.web))
        taken.listen()
        process = up(tmp_path, ports)
        try:
            finished = waiting.submit(process.communicate, timeout=180)
            started = eventually(lambda: serving(ports.rasa) and serving(ports.actions), 120)
            _, stderr = finished.result()
        finally:
            process.kill()
    assert started, "the Rasa server and the action server were never started"
    assert process.returncode == 1
    assert "careprep: the web process stopped" in stderr
    assert "address already in use" in stderr.lower()
    assert left_running(ports.rasa) == [] and left_running(ports.actions) == []
