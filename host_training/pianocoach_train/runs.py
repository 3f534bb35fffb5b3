"""One training run in its own folder: resolved config, feature-settings hash, data provenance,
checkpoint and curves. A finished run is loaded instead of retrained, so an interrupted evaluation
resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from pianocoach.jsonio import read_json, write_json_atomic
from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.models import build_scorer, load_scorer
from pianocoach_train.models.base import FoldData, Scorer
from pianocoach_train.paths import REPO_ROOT
from pianocoach_train.percepiano import PercePiano
from pianocoach_train.train_config import TrainConfig

log = logging.getLogger(__name__)

ARTIFACTS_ENV = "PIANOCOACH_ARTIFACTS"


def artifacts_dir() -> Path:
    return Path(os.environ.get(ARTIFACTS_ENV, REPO_ROOT / "artifacts"))


def data_fingerprint(dataset: PercePiano) -> str:
    """sha256 over the label file and every MIDI file's name and size: changes when the data does."""
    digest = hashlib.sha256(dataset.label_path.read_bytes())
    for ident, path in sorted(dataset.midi_files.items()):
        digest.update(f"{ident}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def finished_run(run_dir: Path, expected: dict) -> bool:
    """Whether ``run_dir`` holds a finished run whose ``run.json`` has every ``expected`` value (its config,
    say): such a run is loaded instead of retrained, and export takes it as it is."""
    meta_path = Path(run_dir) / "run.json"
    if not meta_path.is_file():
        return False
    meta = read_json(meta_path)
    return bool(meta.get("finished")) and all(meta.get(k) == v for k, v in expected.items())


def train_run(
    config: TrainConfig,
    store: FeatureStore,
    train: tuple[str, ...],
    validation: tuple[str, ...],
    run_dir: Path,
    provenance: dict | None = None,
    progress: bool = True,
) -> Scorer:
    run_dir.mkdir(parents=True, exist_ok=True)
    meta_path = run_dir / "run.json"
    # a run of the same config on other features (a feature version bump since) is trained again
    identity = {"config": config.to_dict(), "feature_settings_sha256": store.settings.sha256(), **store.run_identity()}
    if finished_run(run_dir, identity):
        log.info("%s already trained; loading it", run_dir)
        scorer = load_scorer(run_dir)
        scorer.reused = True
        return scorer
    if meta_path.is_file() and read_json(meta_path).get("feature_settings_sha256") != store.settings.sha256():
        # an interrupted run resumes from last.pt, but not one of other features: its epochs learned other columns
        (run_dir / "last.pt").unlink(missing_ok=True)
        log.info("%s: trained on other features before; training afresh", run_dir)
    write_json_atomic(run_dir / "config.json", config.to_dict())
    meta = {
        "config": config.to_dict(),
        "feature_settings_sha256": store.settings.sha256(),
        "feature_settings": store.settings.to_dict(),
        **store.run_identity(),
        "data_sha256": data_fingerprint(store.dataset),
        "train_ids": list(train),
        "validation_ids": list(validation),
        **(provenance or {}),
        "finished": False,
    }
    write_json_atomic(meta_path, meta)
    started = time.perf_counter()
    scorer = build_scorer(config)
    meta["fit"] = scorer.fit(FoldData(store, tuple(train), tuple(validation)), run_dir, progress)
    scorer.save(run_dir)
    meta.update(finished=True, train_seconds=round(time.perf_counter() - started, 2))
    write_json_atomic(meta_path, meta)
    return scorer


def write_model_run(out: Path, onnx_name: str, model_bytes: bytes, meta: dict) -> None:
    """A trained ONNX model and its ``model.json`` in ``out``; the graph is written under a temporary name and renamed,
    so a reader never finds half a file."""
    from pianocoach.jsonio import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    temporary = out / f".{onnx_name}.tmp"
    temporary.write_bytes(model_bytes)
    temporary.replace(out / onnx_name)
    write_json_atomic(out / "model.json", meta)
