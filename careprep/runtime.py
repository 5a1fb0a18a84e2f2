"""What a careprep process that runs no TensorFlow model does before it imports spaCy.

thinc (under spaCy) imports TensorFlow whenever it is installed, and Rasa installs it:
that costs a process such as ``careprep export`` about 1.5 s and 350 MB, and prints
TensorFlow's warnings on stderr, for a library it never uses (the theme rules run on
thinc's own numpy models, the safety classifier on scikit-learn). Processes that load no
Rasa model call ``without_tensorflow()`` first; the Rasa server never does.
"""

from __future__ import annotations

import sys


def without_tensorflow() -> None:
    """Make ``import tensorflow`` fail in this process, unless it is already imported."""
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]
