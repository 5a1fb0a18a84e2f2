"""YAML as careprep reads it: safe, and through libyaml when PyYAML was built with it.

The safety corpus and patterns are about 100 files and 40,000 lines; PyYAML's pure-Python
parser took 9 s to read them, its libyaml one 0.8 s, with the same result (compared file by
file). A process loads the safety nets at its start, so that difference is its start-up
time; PyYAML's wheels on PyPI include libyaml, and without it the pure-Python loader is used.
"""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """Parse one YAML document as ``yaml.safe_load`` does (only plain data, no objects)."""
    return yaml.load(text, Loader=SafeLoader)
