"""A transcription scorer that learned from the pedal heard in the renders, alone into the committed default bundle
(``make bundle-transcription``): trained (or reused) on transcribed renders with the pedal the pedal model hears in
them, exported INT8, and put in place of the bundle's, with that pedal model; every other model is kept.

Not what the default bundle ships: with today's pedal model it scored below the transcription path without the
pedal (README, *The scorer hears the pedal*). The target is there for a better pedal model."""

from __future__ import annotations

import logging
from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach_export.bundle_writer import BundleModel

log = logging.getLogger(__name__)


class PedalMismatch(PianoCoachError, RuntimeError):
    """The pedal model the transcription scorer learned from cannot be put into the bundle."""


def bundle_pedal_sha256(folder: Path) -> str | None:
    """The sha256 of the pedal model a bundle carries (None: none)."""
    from pianocoach.bundle import Manifest
    from pianocoach.scoring.pedal_model import PEDAL_ROLE

    manifest = Manifest.read(folder)
    entry = manifest.model(PEDAL_ROLE)
    return None if entry is None else manifest.files[entry.file].sha256


def trained_transcription_scorer(progress: bool = True) -> BundleModel:
    """The release transcription scorer (performer split minus its test list), exported as the bundle carries it."""
    from pianocoach_export.bundle_assembly import _transcription_scorer_model
    from pianocoach_train.audio.evaluate import AudioEvaluation, train_audio_release
    from pianocoach_train.paths import percepiano_root
    from pianocoach_train.percepiano.dataset import PercePiano

    evaluation = AudioEvaluation(PercePiano.open(percepiano_root(None)), progress)
    run = train_audio_release("transcription_heard_pedal", progress=progress, evaluation=evaluation)
    return _transcription_scorer_model(run, evaluation, progress, heard_pedal=True)


def add_to_default_bundle(key_path: Path | None, progress: bool = True) -> tuple[Path, list[BundleModel]]:
    """Put the transcription scorer into the committed default bundle, with the pedal model it learned from when the
    bundle carries another (the trained one in artifacts/pedal); returns the folder and the models put in."""
    import pianocoach.bundle
    from pianocoach_export.bundle_additions import add_to_default_bundle as add
    from pianocoach_export.pedal_export import trained_pedal_model
    from pianocoach_train.audio.heard_pedal import pedal_source
    from pianocoach_train.runs import artifacts_dir

    source = pedal_source()
    pedal = []
    if source.sha256 != bundle_pedal_sha256(pianocoach.bundle.DEFAULT_BUNDLE):  # checked before the training
        if source.path.parent != artifacts_dir() / "pedal":
            raise PedalMismatch(f"{source.path}: not the default bundle's pedal model, nor a trained one")
        pedal = [trained_pedal_model(source.path.parent)]  # the export checks (reach, chunked runs) first
    model = trained_transcription_scorer(progress)
    if model.metrics["heard_pedal"]["pedal_sha256"] != source.sha256:
        raise PedalMismatch(f"{source.path}: changed while the transcription scorer was trained; run it again")
    return add([model, *pedal], key_path), [model, *pedal]
