"""The "is this a piano?" model in a bundle (role ``sound_check``): read from its training run
(``make sound-check`` writes ``artifacts/sound_check/``), put into ``make bundle``'s default bundle, or added to
the committed default bundle alone (``make bundle-sound-check``), which keeps every other model as it is:
verified first, then re-signed."""

from __future__ import annotations

import logging
from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach_export.bundle_additions import trained_files
from pianocoach_export.bundle_writer import BundleModel

log = logging.getLogger(__name__)

SOUND_CHECK_ROLE = "sound_check"
METRIC_KEYS = (
    "profile_version",
    "profile_names",
    "classes",
    "refuse_above",
    "refuse_piano_below",
    "warn_below",
    "test",
)


class SoundCheckMissing(PianoCoachError, RuntimeError):
    """No trained sound check in artifacts/."""


def trained_sound_check(folder: Path | None = None) -> BundleModel:
    """The trained model and its thresholds, checked against this code's sound profile."""
    from pianocoach.features.sound_profile import PROFILE_NAMES, PROFILE_VERSION
    from pianocoach_train.runs import artifacts_dir

    folder = folder or artifacts_dir() / "sound_check"
    onnx_path, meta_path, meta = trained_files(
        folder, "sound_check.onnx", SoundCheckMissing, "sound check", "sound-check"
    )
    if meta.get("profile_version") != PROFILE_VERSION or tuple(meta.get("profile_names", ())) != PROFILE_NAMES:
        raise SoundCheckMissing(
            f"{meta_path}: trained on sound profile version {meta.get('profile_version')}, the code computes "
            f"{PROFILE_VERSION} (make sound-check retrains it)"
        )
    return BundleModel(
        SOUND_CHECK_ROLE,
        onnx_path,
        str(meta.get("architecture", "classifier")),
        "float32",
        tuple(meta.get("classes", ())),
        metrics={k: meta[k] for k in METRIC_KEYS if k in meta},
        provenance={
            "trained_by": "make sound-check (pianocoach_train.sound_check_model)",
            "data": "renders and synthesised sound, see reports/sound_check",
        },
    )


def add_to_default_bundle(key_path: Path | None) -> Path:
    """Put the trained sound check into the committed default bundle (the other models kept, see
    :mod:`pianocoach_export.bundle_additions`)."""
    from pianocoach_export.bundle_additions import add_to_default_bundle as add

    return add(trained_sound_check(), key_path)
