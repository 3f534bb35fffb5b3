"""Saving and loading torch checkpoints (``model.pt``, ``last.pt``) in run folders.

Saving is atomic: the checkpoint is written to a temporary file beside the target, flushed to disk, then
renamed over it, so an interrupted save leaves the previous checkpoint (or none), never half of one.
Loading uses ``weights_only=True``: torch's restricted unpickler (tensors, dicts, lists, tuples, strings
and numbers, which is all a PianoCoach checkpoint holds) rather than arbitrary pickled objects.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from pianocoach.errors import InputFileError

log = logging.getLogger(__name__)


class CheckpointError(InputFileError):
    """A checkpoint file is missing or cannot be loaded; the message is ``"<path>: <problem>"``."""


def save_checkpoint(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)  # rename within one folder: atomic on POSIX
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.debug("saved %s", path)
    return path


def load_checkpoint(path: str | Path) -> Any:
    """What :func:`save_checkpoint` wrote, loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint")
    try:
        return torch.load(path, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        problem = " ".join(str(exc).split())[:300]
        raise CheckpointError(path, f"cannot load the checkpoint ({problem})") from None
