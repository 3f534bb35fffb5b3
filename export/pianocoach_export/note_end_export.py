"""The note-end model in a bundle (role ``note_end``): read from its training run (``make note-end-model`` writes
``artifacts/note_end/``), put into ``make bundle``'s default bundle, or added to the committed default bundle alone
(``make bundle-note-end``), which keeps every other model as it is. It must go with the pedal model it learned with."""

from __future__ import annotations

from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach.scoring.note_end_model import NOTE_END_ROLE
from pianocoach_export.bundle_additions import trained_files
from pianocoach_export.bundle_writer import BundleModel

METRIC_KEYS = ("features_version", "features", "input", "output", "pedal_sha256", "test")

__all__ = [
    "NOTE_END_ROLE",
    "NoteEndModelMissing",
    "NoteEndModelRefused",
    "add_to_default_bundle",
    "trained_note_end_model",
]


class NoteEndModelMissing(PianoCoachError, RuntimeError):
    """No trained note-end model in artifacts/ for this code's note-end features."""


class NoteEndModelRefused(PianoCoachError, RuntimeError):
    """A trained note-end model the device would refuse, or one for another pedal model than the bundle's."""


def trained_note_end_model(folder: Path | None = None) -> BundleModel:
    """The trained note-end model and what it learned, checked against this code's note-end features."""
    from pianocoach.features.note_ends import FEATURE_NAMES, NOTE_END_VERSION
    from pianocoach_train.runs import artifacts_dir

    folder = folder or artifacts_dir() / "note_end"
    onnx_path, meta_path, meta = trained_files(
        folder, "note_end.onnx", NoteEndModelMissing, "note-end model", "note-end-model"
    )
    if meta.get("features_version") != NOTE_END_VERSION or meta.get("features") != list(FEATURE_NAMES):
        raise NoteEndModelMissing(
            f"{meta_path}: trained on note-end features version {meta.get('features_version')}, the code computes "
            f"{NOTE_END_VERSION} (make note-end-model retrains it)"
        )
    refused_by_device(onnx_path, meta)
    return BundleModel(
        NOTE_END_ROLE,
        onnx_path,
        str(meta.get("architecture", "gradient-boosted trees")),
        str(meta.get("precision", "float32")),
        ("log_sounding_over_heard_length",),
        metrics={k: meta[k] for k in METRIC_KEYS if k in meta},
        provenance={
            "trained_by": "make note-end-model (pianocoach_train.note_end_model)",
            "data": "PercePiano rendered and transcribed by the device (make audio-render), see reports/note_end",
        },
    )


def refused_by_device(onnx_path: Path, meta: dict) -> None:
    """Run the graph as the device would (its checks of the metrics, then notes of every pitch over made-up frames)
    and refuse it here when the device would refuse it or fail on it: the bundle would otherwise be unusable."""
    import hashlib

    import numpy as np

    from pianocoach.errors import BundleError
    from pianocoach.features import NoteTable
    from pianocoach.features.sound_profile import MEL_BANDS
    from pianocoach.scoring.note_end_model import NoteEndModel, NoteEndModelError
    from pianocoach_train.audio.model_source import onnx_session

    try:
        sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
        model = NoteEndModel(onnx_session(str(onnx_path), sha), meta, onnx_path)
        rng = np.random.default_rng(0)
        onsets = np.arange(88) * 0.25
        table = NoteTable.from_arrays(onsets, onsets + 0.4, np.arange(21, 109), np.full(88, 64))
        frames = 600
        model.ends(table, rng.uniform(0, 1, frames), rng.normal(-40, 10, (MEL_BANDS, frames)).astype(np.float32))
    except (BundleError, NoteEndModelError) as exc:
        raise NoteEndModelRefused(f"{onnx_path}: {exc}") from None


def add_to_default_bundle(key_path: Path | None) -> Path:
    """Put the trained note-end model into the committed default bundle (the other models kept); refused when the
    bundle's pedal model is not the one it learned with."""
    import pianocoach.bundle
    from pianocoach_export.bundle_additions import add_to_default_bundle as add
    from pianocoach_export.bundle_additions import with_model
    from pianocoach_export.bundle_assembly import pairing_problem
    from pianocoach_export.bundle_writer import models_from_bundle

    model = trained_note_end_model()
    problem = pairing_problem(with_model(models_from_bundle(pianocoach.bundle.DEFAULT_BUNDLE)[0], model))
    if problem:
        raise NoteEndModelRefused(f"{pianocoach.bundle.DEFAULT_BUNDLE}: {problem}")
    return add(model, key_path)
