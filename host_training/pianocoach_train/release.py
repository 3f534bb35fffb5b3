"""The release MIDI scorer: trained on the performer split minus its test list, which stays unseen.

Saved to ``artifacts/release/<model>`` (a run folder: config, provenance, model), where export
picks it up. Models that early-stop (the MLP, the blend's MLP, the sequence models) stop on a seeded
10 % of the training ids.
"""

from __future__ import annotations

from pathlib import Path

from pianocoach_train.evaluation import hold_out
from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.models import build_scorer
from pianocoach_train.runs import artifacts_dir, train_run
from pianocoach_train.train_config import TrainConfig


def release_dir(model: str) -> Path:
    return artifacts_dir() / "release" / model


def train_release(config: TrainConfig, store: FeatureStore, out: Path | None = None, progress: bool = True) -> Path:
    out = out or release_dir(config.model)
    split = store.dataset.split("performer")
    excluded = set(split.test)
    train = tuple(i for i in sorted(split.all_ids()) if i not in excluded)
    validation: tuple[str, ...] = ()
    if build_scorer(config).early_stopped:
        train, validation = hold_out(train, config.seed)
    provenance = {
        "split": "performer",
        "purpose": "release",
        "excluded_ids": sorted(excluded),
        "excluded_reason": "the performer split's test list, kept unseen for evaluation",
    }
    train_run(config, store, train, validation, out, provenance, progress)
    return out
