"""Where host training finds the repository and the PercePiano data. Every path is a setting: CLI flag >
environment variable > default. (The training hyperparameters are :mod:`pianocoach_train.train_config`.)"""

from __future__ import annotations

import os
from pathlib import Path

PERCEPIANO_ENV = "PIANOCOACH_PERCEPIANO"
# host_training/pianocoach_train/paths.py -> the repository root is two folders up from the package
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PERCEPIANO = REPO_ROOT.parent / "shared" / "percepiano"


def percepiano_root(cli_value: str | Path | None = None) -> Path:
    """The PercePiano folder: ``--data`` if given, else $PIANOCOACH_PERCEPIANO, else ../shared/percepiano."""
    if cli_value:
        return Path(cli_value)
    if os.environ.get(PERCEPIANO_ENV):
        return Path(os.environ[PERCEPIANO_ENV])
    return DEFAULT_PERCEPIANO
