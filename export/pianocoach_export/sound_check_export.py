"""The "is this a piano?" model in a bundle (role ``sound_check``): read from its training run
(``make sound-check`` writes ``artifacts/sound_check/``), put into ``make bundle``'s default bundle, or added to
the committed default bundle alone (``make bundle-sound-check``), which keeps every other model as it is:
verified first, then re-signed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach_export.bundle_writer import BundleModel, models_from_bundle

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
    onnx_path, meta_path = folder / "sound_check.onnx", folder / "model.json"
    if not (onnx_path.is_file() and meta_path.is_file()):
        raise SoundCheckMissing(f"{folder}: no trained sound check (make sound-check trains it)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
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


def with_sound_check(models: list[BundleModel], sound_check: BundleModel) -> list[BundleModel]:
    """``models`` with ``sound_check`` in place of any sound check they had."""
    return [m for m in models if m.role != SOUND_CHECK_ROLE] + [sound_check]


def add_to_default_bundle(key_path: Path | None) -> Path:
    """Put the trained sound check into the committed default bundle; the other models are kept as they are
    (the bundle is verified against the device's keys first) and the manifest is signed anew."""
    import pianocoach.bundle
    from pianocoach.bundle import Manifest, verify_bundle
    from pianocoach.bundle.signing import trusted_keys
    from pianocoach.errors import BundleRejected
    from pianocoach_export.bundle_assembly import bundle_id, signing_key, write_verified
    from pianocoach_train.runs import artifacts_dir

    sound_check = trained_sound_check()
    default = pianocoach.bundle.DEFAULT_BUNDLE  # read at call time (the tests point it at a copy)
    check = verify_bundle(default, trusted_keys())  # the packaged keys: what a device trusts
    if not check.ok:
        raise BundleRejected(default, check.problems)
    models, audio_path = models_from_bundle(default)
    previous = Manifest.read(default).bundle_id
    prefix = previous.rsplit("-", 1)[0] if previous.count("-") >= 2 else "default"
    tar_path = artifacts_dir() / "bundles" / "default.tar"
    write_verified(
        with_sound_check(models, sound_check), signing_key(key_path), default, tar_path, bundle_id(prefix), audio_path
    )
    log.info("sound check added to %s (was %s)", default, previous)
    return default
