"""The velocity model in a bundle (role ``velocity``): read from its training run (``make velocity-model`` writes
``artifacts/velocity/``), put into ``make bundle``'s default bundle, or added to the committed default bundle alone
(``make bundle-velocity``), which keeps every other model as it is."""

from __future__ import annotations

from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach.scoring.velocity_model import VELOCITY_ROLE
from pianocoach_export.bundle_additions import trained_files
from pianocoach_export.bundle_writer import BundleModel

METRIC_KEYS = ("features_version", "features", "input", "spread", "test")

__all__ = [
    "VELOCITY_ROLE",
    "VelocityModelMissing",
    "VelocityModelRefused",
    "add_to_default_bundle",
    "trained_velocity_model",
]


class VelocityModelMissing(PianoCoachError, RuntimeError):
    """No trained velocity model in artifacts/ for this code's note features."""


def trained_velocity_model(folder: Path | None = None) -> BundleModel:
    """The trained velocity model and what it learned, checked against this code's note features."""
    from pianocoach.features.note_velocity import FEATURE_NAMES, NOTE_VELOCITY_VERSION
    from pianocoach_train.runs import artifacts_dir

    folder = folder or artifacts_dir() / "velocity"
    onnx_path, meta_path, meta = trained_files(
        folder, "velocity.onnx", VelocityModelMissing, "velocity model", "velocity-model"
    )
    if meta.get("features_version") != NOTE_VELOCITY_VERSION or meta.get("features") != list(FEATURE_NAMES):
        raise VelocityModelMissing(
            f"{meta_path}: trained on note features version {meta.get('features_version')}, the code computes "
            f"{NOTE_VELOCITY_VERSION} (make velocity-model retrains it)"
        )
    refused_by_device(onnx_path, meta)
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


class VelocityModelRefused(PianoCoachError, RuntimeError):
    """A trained velocity model the bundle's transcription scorer did not learn from."""


def refused_by_device(onnx_path: Path, meta: dict) -> None:
    """Run the graph as the device would (its checks of the metrics and the spread, then notes of every pitch) and
    refuse it here when the device would refuse it or fail on it: the bundle would otherwise be unusable."""
    import hashlib

    import numpy as np

    from pianocoach.errors import BundleError
    from pianocoach.features.note_velocity import FEATURE_NAMES
    from pianocoach.scoring.velocity_model import VelocityModel, VelocityModelError
    from pianocoach_train.audio.model_source import onnx_session

    try:
        sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
        model = VelocityModel(onnx_session(str(onnx_path), sha), meta, onnx_path)
        features = np.random.default_rng(0).normal(0, 10, (88, len(FEATURE_NAMES))).astype(np.float32)
        features[:, 0] = np.arange(21, 109)
        model.velocities(features)
    except (BundleError, VelocityModelError) as exc:
        raise VelocityModelRefused(f"{onnx_path}: {exc}") from None


def add_to_default_bundle(key_path: Path | None) -> Path:
    """Put the trained velocity model into the committed default bundle (the other models kept); refused when the
    bundle's transcription scorer learned from another velocity model's velocities (make bundle-transcription)."""
    import pianocoach.bundle
    from pianocoach_export.bundle_additions import add_to_default_bundle as add
    from pianocoach_export.bundle_additions import with_model
    from pianocoach_export.bundle_assembly import pairing_problem
    from pianocoach_export.bundle_writer import models_from_bundle

    model = trained_velocity_model()
    problem = pairing_problem(with_model(models_from_bundle(pianocoach.bundle.DEFAULT_BUNDLE)[0], model))
    if problem:  # the device would refuse a bundle whose transcription scorer learned from another model's velocities
        raise VelocityModelRefused(f"{pianocoach.bundle.DEFAULT_BUNDLE}: {problem}")
    return add(model, key_path)
