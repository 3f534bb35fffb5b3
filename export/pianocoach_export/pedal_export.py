"""The pedal model in a bundle (role ``pedal``): read from its training run (``make pedal-model`` writes
``artifacts/pedal/``), put into ``make bundle``'s default bundle, or added to the committed default bundle alone
(``make bundle-pedal``), which keeps every other model as it is."""

from __future__ import annotations

import json
from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach.scoring.pedal_model import PEDAL_ROLE
from pianocoach_export.bundle_writer import BundleModel

METRIC_KEYS = ("frames_version", "bands", "reach_frames", "input", "output", "test")

__all__ = ["PEDAL_ROLE", "PedalModelMissing", "add_to_default_bundle", "trained_pedal_model"]


class PedalModelMissing(PianoCoachError, RuntimeError):
    """No trained pedal model in artifacts/ for this code's frames."""


def trained_pedal_model(folder: Path | None = None) -> BundleModel:
    """The trained pedal model and what it learned, checked against this code's frames."""
    from pianocoach.features.pedal_frames import PEDAL_FRAMES_VERSION
    from pianocoach.features.sound_profile import MEL_BANDS
    from pianocoach_train.runs import artifacts_dir

    folder = folder or artifacts_dir() / "pedal"
    onnx_path, meta_path = folder / "pedal.onnx", folder / "model.json"
    if not (onnx_path.is_file() and meta_path.is_file()):
        raise PedalModelMissing(f"{folder}: no trained pedal model (make pedal-model trains it)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("frames_version") != PEDAL_FRAMES_VERSION or meta.get("bands") != MEL_BANDS:
        raise PedalModelMissing(
            f"{meta_path}: trained on frames version {meta.get('frames_version')}, the code computes "
            f"{PEDAL_FRAMES_VERSION} (make pedal-model retrains it)"
        )
    return BundleModel(
        PEDAL_ROLE,
        onnx_path,
        str(meta.get("architecture", "pedal convnet")),
        str(meta.get("precision", "float32")),
        ("pedal_down",),
        metrics={k: meta[k] for k in METRIC_KEYS if k in meta},
        provenance={
            "trained_by": "make pedal-model (pianocoach_train.pedal_model)",
            "data": "PercePiano rendered with its pedal through the training soundfonts, see reports/pedal",
        },
    )


def add_to_default_bundle(key_path: Path | None) -> Path:
    """Put the trained pedal model into the committed default bundle (the other models kept)."""
    from pianocoach_export.bundle_additions import add_to_default_bundle as add

    return add(trained_pedal_model(), key_path)
