"""The trained models export ships, found without training anything.

Each must be a finished run of the current training config in ``artifacts/``; a missing (or unfinished, or
outdated) one is a one-line :class:`MissingArtifactError` naming its folder and the make target that trains
it. ``make export`` and ``make bundle`` run those targets first:

    release scorer   artifacts/release/<model>           make release-model MODEL=<model>
    jianzipu reader  artifacts/jianzipu/reader           make jianzipu-reader
    audio path       artifacts/release/audio_<model>     make audio-release
"""

from __future__ import annotations

from pathlib import Path

from pianocoach.errors import InputFileError
from pianocoach.features import DEFAULT_SETTINGS
from pianocoach_train.jianzipu.dataset import Sizes
from pianocoach_train.jianzipu.train import CONFIG as READER_CONFIG
from pianocoach_train.jianzipu.train import ENSEMBLE, READER_SIZES, reader_dir, reader_record
from pianocoach_train.release import release_dir
from pianocoach_train.runs import finished_run
from pianocoach_train.train_config import TrainConfig


class MissingArtifactError(InputFileError):
    """A trained model export needs is not in artifacts/; ``target`` is the make target that trains it."""

    def __init__(self, path: str | Path, what: str, target: str) -> None:
        self.target = target
        super().__init__(path, f"no finished {what} here (export trains nothing): run `make {target}` first")


def release_run(model: str) -> Path:
    """``artifacts/release/<model>``: the release MIDI scorer (``make release-model``)."""
    run_dir = release_dir(model)
    expected = {"config": TrainConfig(model=model).to_dict(), "feature_settings_sha256": DEFAULT_SETTINGS.sha256()}
    if not finished_run(run_dir, expected):  # (one trained on other features is no release model of this code)
        raise MissingArtifactError(
            run_dir, f"release model {model!r} trained on these features", f"release-model MODEL={model}"
        )
    return run_dir


def reader_runs(sizes: Sizes = READER_SIZES, config: TrainConfig = READER_CONFIG) -> list[Path]:
    """The runs of the shipped jianzipu image reader's members (``ENSEMBLE``; ``make jianzipu-reader``)."""
    runs = []
    for variant in ENSEMBLE:
        run_dir = reader_dir(variant)
        if not finished_run(run_dir, reader_record(variant, sizes=sizes, config=config)):
            raise MissingArtifactError(run_dir, f"jianzipu reader ({variant})", "jianzipu-reader")
        runs.append(run_dir)
    return runs


def audio_release_run(model: str) -> Path:
    """``artifacts/release/audio_<model>``: a model of the chosen audio path (``make audio-release``)."""
    from pianocoach_train.audio.evaluate import finished_audio_release

    run_dir = finished_audio_release(model)
    if run_dir is None:
        raise MissingArtifactError(release_dir(f"audio_{model}"), f"audio release model {model!r}", "audio-release")
    return run_dir
