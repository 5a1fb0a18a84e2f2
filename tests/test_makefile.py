"""The Makefile finds Python 3.10 itself, and says clearly when there is none."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_without_python_3_10_make_says_so_and_stops(tmp_path: Path) -> None:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    bare_path = tmp_path / "bin"
    bare_path.mkdir()
    for tool in ("bash", "sh", "env", "rm", "touch", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (bare_path / tool).symlink_to(found)
    make = shutil.which("make")
    assert make is not None
    result = subprocess.run(
        [make, "install"], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": str(bare_path), "HOME": str(tmp_path)}, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "careprep needs Python 3.10" in result.stderr
    assert "make PYTHON=/path/to/python3.10" in result.stderr
    assert not (tmp_path / ".venv").exists()
