"""The trained Rasa model: named after a fingerprint of what it was trained from."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

TRAINING_INPUTS = ("config.yml", "domain.yml", "bot/data")
MODELS = Path("models")


def fingerprint(root: Path = Path(".")) -> str:
    """Return a short hash of the config, domain and training data."""
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = sorted(path.rglob("*.yml")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def model_path(root: Path = Path(".")) -> Path:
    """Return where the model for the current training inputs lives (it may not exist yet)."""
    return root / MODELS / f"careprep-{fingerprint(root)}.tar.gz"


def rasa_command(*args: str) -> list[str]:
    """Return the command line that runs Rasa from this environment."""
    return [str(Path(sys.executable).with_name("rasa")), *args]


def train_if_needed(root: Path = Path(".")) -> Path:
    """Train the safety classifier and the Rasa model unless both are current."""
    from careprep.safety.classifier import train_if_needed as train_safety_classifier

    print(f"Safety classifier: {train_safety_classifier()}", flush=True)
    wanted = model_path(root)
    if wanted.exists():
        return wanted
    print(f"Training the Rasa model ({wanted.name}); this takes a few minutes...", flush=True)
    subprocess.run(
        rasa_command(
            "train",
            "--config",
            str(root / "config.yml"),
            "--domain",
            str(root / "domain.yml"),
            "--data",
            str(root / "bot/data"),
            "--out",
            str(root / MODELS),
            "--fixed-model-name",
            wanted.name.removesuffix(".tar.gz"),
        ),
        check=True,
        cwd=root,
    )
    return wanted
