"""The pedal model in a bundle (role ``pedal``): read from its training run (``make pedal-model`` writes
``artifacts/pedal/``), put into ``make bundle``'s default bundle, or added to the committed default bundle alone
(``make bundle-pedal``), which keeps every other model as it is."""

from __future__ import annotations

from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach.scoring.pedal_model import PEDAL_ROLE
from pianocoach_export.bundle_additions import trained_files
from pianocoach_export.bundle_writer import BundleModel

METRIC_KEYS = ("frames_version", "bands", "reach_frames", "input", "output", "test")

__all__ = ["PEDAL_ROLE", "PedalModelMissing", "PedalModelRefused", "add_to_default_bundle", "trained_pedal_model"]


class PedalModelMissing(PianoCoachError, RuntimeError):
    """No trained pedal model in artifacts/ for this code's frames."""


class PedalModelRefused(PianoCoachError, RuntimeError):
    """A trained pedal model the device would refuse, or whose chunked runs differ from one run over the take."""


def chunked_difference(model_bytes: bytes, frames: int = 900) -> float:
    """The largest difference between one run of the graph over ``frames`` frames of varied bands and the device's
    chunked runs (0 up to float rounding when the graph's reach fits the device's context)."""
    import numpy as np

    from pianocoach.features.sound_profile import MEL_BANDS
    from pianocoach_train.pedal_model import device_probabilities, onnx_runner

    rng = np.random.default_rng(0)
    level = -40 + 25 * np.sin(np.arange(frames) / 17.0) - 20 * (rng.random(frames) < 0.05)
    bands = (level + rng.normal(0, 8, (MEL_BANDS, frames))).astype(np.float32)
    run = onnx_runner(model_bytes)
    return float(np.abs(run(bands[None]) - device_probabilities(run, bands)).max())


def trained_pedal_model(folder: Path | None = None) -> BundleModel:
    """The trained pedal model and what it learned, checked against this code's frames."""
    from pianocoach.features.pedal_frames import PEDAL_FRAMES_VERSION
    from pianocoach.features.sound_profile import MEL_BANDS
    from pianocoach_train.runs import artifacts_dir

    folder = folder or artifacts_dir() / "pedal"
    onnx_path, meta_path, meta = trained_files(folder, "pedal.onnx", PedalModelMissing, "pedal model", "pedal-model")
    if meta.get("frames_version") != PEDAL_FRAMES_VERSION or meta.get("bands") != MEL_BANDS:
        raise PedalModelMissing(
            f"{meta_path}: trained on frames version {meta.get('frames_version')}, the code computes "
            f"{PEDAL_FRAMES_VERSION} (make pedal-model retrains it)"
        )
    from pianocoach.features.pedal_frames import CONTEXT_FRAMES
    from pianocoach_train.pedal_model import PARITY

    reach = meta.get("reach_frames")
    if not isinstance(reach, int) or isinstance(reach, bool) or not 0 <= reach <= CONTEXT_FRAMES:
        raise PedalModelRefused(f"{meta_path}: reach {reach!r} frames is not within the device's {CONTEXT_FRAMES}")
    difference = chunked_difference(onnx_path.read_bytes())
    if difference > PARITY:
        raise PedalModelRefused(
            f"{onnx_path}: the device's chunked runs differ from one run over the take by {difference:.3g} (a reach "
            "beyond the device's context, or dynamic quantisation)"
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
    """Put the trained pedal model into the committed default bundle (the other models kept, but a note-end model that
    learned with the old pedal model, which is left out with a warning)."""
    import pianocoach.bundle
    from pianocoach_export.bundle_additions import add_to_default_bundle as add
    from pianocoach_export.bundle_additions import with_model
    from pianocoach_export.bundle_assembly import pairing_problem, without_unpaired_note_end
    from pianocoach_export.bundle_writer import models_from_bundle

    model = trained_pedal_model()
    models = with_model(models_from_bundle(pianocoach.bundle.DEFAULT_BUNDLE)[0], model)
    problem = pairing_problem(without_unpaired_note_end(models))  # a note-end model of the old pedal is left out
    if problem:  # the device would refuse a bundle whose transcription scorer learned from another pedal model's pedal
        raise PedalModelRefused(f"{pianocoach.bundle.DEFAULT_BUNDLE}: {problem}")
    return add(model, key_path)
