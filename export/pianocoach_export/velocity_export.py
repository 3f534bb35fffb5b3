"""The velocity model in a bundle (role ``velocity``): read from its training run (``make velocity-model`` writes
``artifacts/velocity/``), put into ``make bundle``'s default bundle, or added to the committed default bundle alone
(``make bundle-velocity``), which keeps every other model as it is."""

from __future__ import annotations

import json
from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach.scoring.velocity_model import VELOCITY_ROLE
from pianocoach_export.bundle_writer import BundleModel

METRIC_KEYS = ("features_version", "features", "input", "spread", "test")

__all__ = ["VELOCITY_ROLE", "VelocityModelMissing", "add_to_default_bundle", "trained_velocity_model"]


class VelocityModelMissing(PianoCoachError, RuntimeError):
    """No trained velocity model in artifacts/ for this code's note features."""


def trained_velocity_model(folder: Path | None = None) -> BundleModel:
    """The trained velocity model and what it learned, checked against this code's note features."""
    from pianocoach.features.note_velocity import FEATURE_NAMES, NOTE_VELOCITY_VERSION
    from pianocoach_train.runs import artifacts_dir

    folder = folder or artifacts_dir() / "velocity"
    onnx_path, meta_path = folder / "velocity.onnx", folder / "model.json"
    if not (onnx_path.is_file() and meta_path.is_file()):
        raise VelocityModelMissing(f"{folder}: no trained velocity model (make velocity-model trains it)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("features_version") != NOTE_VELOCITY_VERSION or meta.get("features") != list(FEATURE_NAMES):
        raise VelocityModelMissing(
            f"{meta_path}: trained on note features version {meta.get('features_version')}, the code computes "
            f"{NOTE_VELOCITY_VERSION} (make velocity-model retrains it)"
        )
    return BundleModel(
        VELOCITY_ROLE,
        onnx_path,
        str(meta.get("architecture", "gradient-boosted trees")),
        str(meta.get("precision", "float32")),
        ("velocity",),
        metrics={k: meta[k] for k in METRIC_KEYS if k in meta},
        provenance={
            "trained_by": "make velocity-model (pianocoach_train.velocity_model)",
            "data": "PercePiano rendered and transcribed by the device (make audio-render), see reports/velocity",
        },
    )


def add_to_default_bundle(key_path: Path | None) -> Path:
    """Put the trained velocity model into the committed default bundle (the other models kept)."""
    from pianocoach_export.bundle_additions import add_to_default_bundle as add

    return add(trained_velocity_model(), key_path)
