"""The real PercePiano files in ../shared, for the tests that read them (read in place; never copied)."""

from pathlib import Path

import pytest

from pianocoach_train.paths import percepiano_root


def real_percepiano() -> Path:
    """The real PercePiano folder, or a skip that says why (CI has ../shared beside the clone; a bare
    checkout has not)."""
    root = percepiano_root()
    if not (root / "midi").is_dir():
        pytest.skip(f"PercePiano not found at {root}: set PIANOCOACH_PERCEPIANO to check the real files")
    return root
