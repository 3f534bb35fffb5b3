"""The shipped transcription scorer alone into the committed default bundle (``make bundle-transcription``): trained (or
reused) on transcribed renders with the key velocities the velocity model hears in them
(``SHIPPED_TRANSCRIPTION``), exported INT8, and put in place of the bundle's, with that velocity model; every other
model is kept.

(The same route with the heard pedal, ``transcription_heard_pedal``, scored below the plain transcription path and is
not shipped: README, *The scorer hears the pedal*.)"""

from __future__ import annotations

import logging
from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach_export.bundle_writer import BundleModel

log = logging.getLogger(__name__)


class VelocityMismatch(PianoCoachError, RuntimeError):
    """The velocity model the transcription scorer learned from cannot be put into the bundle."""


def bundle_model_sha256(folder: Path, role: str) -> str | None:
    """The sha256 of the model of ``role`` a bundle carries (None: none)."""
    from pianocoach.bundle import Manifest

    manifest = Manifest.read(folder)
    entry = manifest.model(role)
    return None if entry is None else manifest.files[entry.file].sha256


def trained_transcription_scorer(progress: bool = True) -> BundleModel:
    """The release transcription scorer (performer split minus its test list), exported as the bundle carries it."""
    from pianocoach_export.bundle_assembly import _transcription_scorer_model
    from pianocoach_train.audio.evaluate import SHIPPED_TRANSCRIPTION, AudioEvaluation, train_audio_release
    from pianocoach_train.paths import percepiano_root
    from pianocoach_train.percepiano.dataset import PercePiano

    evaluation = AudioEvaluation(PercePiano.open(percepiano_root(None)), progress)
    run = train_audio_release(SHIPPED_TRANSCRIPTION, progress=progress, evaluation=evaluation)
    return _transcription_scorer_model(run, evaluation, progress, SHIPPED_TRANSCRIPTION)


def add_to_default_bundle(key_path: Path | None, progress: bool = True) -> tuple[Path, list[BundleModel]]:
    """Put the transcription scorer into the committed default bundle, with the velocity model it learned from when
    the bundle carries another (the trained one in artifacts/velocity); returns the folder and the models put in."""
    import pianocoach.bundle
    from pianocoach.scoring.velocity_model import VELOCITY_ROLE
    from pianocoach_export.bundle_additions import add_to_default_bundle as add
    from pianocoach_export.velocity_export import trained_velocity_model
    from pianocoach_train.audio.heard_velocity import velocity_source
    from pianocoach_train.runs import artifacts_dir

    source = velocity_source()
    velocity = []
    if source.sha256 != bundle_model_sha256(pianocoach.bundle.DEFAULT_BUNDLE, VELOCITY_ROLE):  # before the training
        if source.path.parent != artifacts_dir() / "velocity":
            raise VelocityMismatch(f"{source.path}: not the default bundle's velocity model, nor a trained one")
        velocity = [trained_velocity_model(source.path.parent)]
    model = trained_transcription_scorer(progress)
    if model.metrics["heard_velocity"]["velocity_sha256"] != source.sha256:
        raise VelocityMismatch(f"{source.path}: changed while the transcription scorer was trained; run it again")
    return add([model, *velocity], key_path), [model, *velocity]
