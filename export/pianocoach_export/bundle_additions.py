"""Models added to the committed default bundle one at a time (the sound check, the pedal model): the other models
are kept as they are (the bundle is verified against the device's keys first) and the manifest is signed anew."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from pianocoach_export.bundle_writer import BundleModel, models_from_bundle

log = logging.getLogger(__name__)


def trained_files(
    folder: Path, onnx_name: str, missing: type[Exception], what: str, target: str
) -> tuple[Path, Path, dict]:
    """The graph, ``model.json`` and its contents of a model trained into ``folder``; ``missing`` (naming ``what``
    and ``make target``, which trains it) when either file is not there."""
    import json

    onnx_path, meta_path = folder / onnx_name, folder / "model.json"
    if not (onnx_path.is_file() and meta_path.is_file()):
        raise missing(f"{folder}: no trained {what} (make {target} trains it)")
    return onnx_path, meta_path, json.loads(meta_path.read_text(encoding="utf-8"))


def with_model(models: list[BundleModel], model: BundleModel) -> list[BundleModel]:
    """``models`` with ``model`` in place of any model of its role."""
    return [m for m in models if m.role != model.role] + [model]


def add_to_default_bundle(model: BundleModel | list[BundleModel], key_path: Path | None) -> Path:
    """Put ``model`` (or several) into the committed default bundle in place of any of its role."""
    import pianocoach.bundle
    from pianocoach.bundle import Manifest, verify_bundle
    from pianocoach.bundle.signing import trusted_keys
    from pianocoach.errors import BundleRejected
    from pianocoach_export.bundle_assembly import bundle_id, signing_key, without_unpaired_note_end, write_verified
    from pianocoach_train.runs import artifacts_dir

    default = pianocoach.bundle.DEFAULT_BUNDLE  # read at call time (the tests point it at a copy)
    added = model if isinstance(model, list) else [model]
    check = verify_bundle(default, trusted_keys())  # the packaged keys: what a device trusts
    # a new transcription scorer replaces one whose pairing the device refuses (the new bundle is verified whole)
    resolved = "its transcription scorer" if any(m.role == "transcription_scorer" for m in added) else None
    problems = [p for p in check.problems if not (resolved and p.startswith(resolved))]
    if problems:
        raise BundleRejected(default, problems)
    models, audio_path = models_from_bundle(default)
    previous = Manifest.read(default).bundle_id
    prefix = previous.rsplit("-", 1)[0] if previous.count("-") >= 2 else "default"
    tar_path = artifacts_dir() / "bundles" / "default.tar"
    for each in added:
        models = with_model(models, each)
    models = without_unpaired_note_end(models)  # a new pedal model leaves out a note-end model trained with the old
    write_verified(models, signing_key(key_path), default, tar_path, bundle_id(prefix), audio_path)
    log.info("%s added to %s (was %s)", ", ".join(m.role for m in added), default, previous)
    return default


def added_entry(
    role: str, trained: Callable[[], BundleModel], missing: type[Exception], current: dict
) -> BundleModel | None:
    """The model of ``role`` trained in artifacts/ (``trained()``, which raises ``missing`` when there is none), else
    the committed bundle's (verified) when its metrics hold ``current`` (the versions this code computes), else none."""
    import pianocoach.bundle
    from pianocoach.bundle import Manifest
    from pianocoach_export.bundle_assembly import kept_models

    try:
        return trained()
    except missing as exc:
        committed = Manifest.read(pianocoach.bundle.DEFAULT_BUNDLE).model(role)
        if committed is not None and all(committed.metrics.get(k) == v for k, v in current.items()):
            log.info("%s; keeping the committed bundle's", exc)
            return kept_models((role,))[0][role]
        # a model for another feature version would make the device refuse the whole bundle
        log.warning("%s; the bundle gets no %s model", exc, role)
        return None
