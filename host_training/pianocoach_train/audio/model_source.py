"""A model the device runs on what it hears (the pedal model, the velocity model), as the host's training reads it: the
one trained in ``artifacts/`` when there is one, else the committed default bundle's, fixed by its sha256 so that the
runs trained on its output name the very model a bundle must carry with them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from pianocoach.errors import PianoCoachError
from pianocoach.jsonio import read_json


class NotHeardError(PianoCoachError, RuntimeError):
    """A render without what the device heard in it (rendered before it was kept), or no such model."""


@dataclass(frozen=True)
class ModelSource:
    """A model file, its sha256 (read once) and the metrics the device checks it by."""

    path: Path
    metrics: dict
    sha256: str

    @classmethod
    def of(cls, path: Path, metrics: dict):
        return cls(path, metrics, hashlib.sha256(path.read_bytes()).hexdigest())


Source = TypeVar("Source", bound=ModelSource)


def find_source(kind: type[Source], role: str, folder: str, onnx_name: str, make_target: str) -> Source:
    """The model trained in ``artifacts/<folder>/<onnx_name>`` (with its ``model.json``), else the committed default
    bundle's model of ``role``."""
    import pianocoach.bundle
    from pianocoach.bundle import Manifest
    from pianocoach_train.runs import artifacts_dir

    trained = artifacts_dir() / folder
    if (trained / onnx_name).is_file() and (trained / "model.json").is_file():
        return kind.of(trained / onnx_name, read_json(trained / "model.json"))
    default = pianocoach.bundle.DEFAULT_BUNDLE  # read at call time (the tests point it at a copy)
    entry = Manifest.read(default).model(role)
    if entry is None:
        raise NotHeardError(f"{default}: no {role} model, and none trained (make {make_target})")
    return kind.of(default / entry.file, dict(entry.metrics))


@lru_cache(maxsize=8)  # a worker of the cross-fitted ends reads six: the pedal, velocity and four note-end models
def onnx_session(path: str, sha256: str):
    """An ONNX Runtime session of the file, on one thread as on the device (workers run side by side); refused when
    the file is no longer the one chosen."""
    import onnxruntime as ort

    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise NotHeardError(f"{path}: changed since it was chosen (sha256 {sha256[:12]})")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
