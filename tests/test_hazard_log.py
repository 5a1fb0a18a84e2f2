"""Every hazard in docs/clinical-safety.md names tests that exist (make test runs them)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG = (ROOT / "docs/clinical-safety.md").read_text()
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def hazard_rows() -> list[str]:
    return [line for line in LOG.splitlines() if re.match(r"\| H\d+ \|", line)]


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_hazard_names_at_least_one_test() -> None:
    rows = hazard_rows()
    assert len(rows) >= 10
    for row in rows:
        assert REFERENCE.search(row), row


def test_every_named_test_exists() -> None:
    for path, name in REFERENCE.findall(LOG):
        assert (ROOT / path).is_file(), path
        assert name in defined_tests(ROOT / path), f"{path}::{name}"
