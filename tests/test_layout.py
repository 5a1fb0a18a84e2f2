"""The code layout's rules (one core, thin edges), as import-linter checks them in `make lint`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("careprep", "bot", "integrations", "web")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's packages and its import-linter contracts."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_as_it_is_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("careprep/preparation/answers.py", "import rasa_sdk", "rasa_sdk"),
        ("careprep/messaging/worker.py", "from twilio.rest import Client", "twilio"),
        ("careprep/record/__init__.py", "import bot.actions", "bot"),
        ("careprep/safety/flags.py", "import fastapi", "fastapi"),
        ("integrations/sms/text.py", "import web.app", "web"),
        ("bot/actions/store.py", "import integrations.sms.channel", "integrations"),
    ],
)
def test_an_import_against_the_layout_fails_the_lint(
    tree: Path, module: str, line: str, broken: str
) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert f"-> {broken}" in result.stdout
