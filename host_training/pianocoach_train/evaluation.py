"""The published PercePiano protocol, plus a simple random 80/10/10 split.

- performer and piece splits: fold k trains on every id outside ``fold_k`` and ``test``, early-stops on
  ``fold_k`` and is scored on the common ``test`` list; we report each fold model and their mean.
- work split (leave one work out): the held-out work is the test set. Early stopping never looks at it:
  it uses a seeded 10 % of the training ids instead.
- random: one seeded 80/10/10 split of all ids (the seed project's simple protocol), reported apart.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pianocoach.features import without_score
from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.metrics import summarise
from pianocoach_train.models.base import VectorScorer
from pianocoach_train.percepiano import PercePiano, parse_id
from pianocoach_train.runs import train_run
from pianocoach_train.train_config import TrainConfig

log = logging.getLogger(__name__)

SPLITS = ("performer", "piece", "work", "random")
# Published mean per-scale R² on the test list, averaged over the 4 fold models (Park et al. 2024).
PUBLISHED = {
    "piece": {"Bi-LSTM": 0.185, "MidiBERT": 0.313, "Bi-LSTM + score alignment + HAN": 0.397},
    "performer": {"Bi-LSTM": 0.236, "MidiBERT": 0.212, "Bi-LSTM + score alignment + HAN": 0.285},
}


@dataclass(frozen=True)
class ProtocolFold:
    split: str
    fold: int
    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]


def hold_out(ids: tuple[str, ...], seed: int, fraction: float = 0.1) -> tuple[tuple[str, ...], tuple[str, ...]]:
    order = np.random.default_rng(seed).permutation(len(ids))
    cut = max(1, int(round(fraction * len(ids))))
    validation = tuple(sorted(ids[i] for i in order[:cut]))
    chosen = set(validation)
    return tuple(i for i in ids if i not in chosen), validation


def protocol_folds(dataset: PercePiano, split: str, seed: int = 0) -> list[ProtocolFold]:
    if split == "random":
        ids = tuple(sorted(dataset.midi_files))
        order = np.random.default_rng(seed).permutation(len(ids))
        n_train, n_val = int(0.8 * len(ids)), int(0.1 * len(ids))
        train, validation, test = (
            tuple(sorted(ids[i] for i in part)) for part in np.split(order, [n_train, n_train + n_val])
        )
        return [ProtocolFold("random", 0, train, validation, test)]
    spec = dataset.split(split)
    folds = []
    for k in range(4):
        fold = spec.fold(k)
        if split == "work":
            train, validation = hold_out(fold.train, seed + k)
            folds.append(ProtocolFold(split, k, train, validation, fold.validation))
        else:
            folds.append(ProtocolFold(split, k, fold.train, fold.validation, fold.test))
    return folds


def passage_groups(ids: tuple[str, ...]) -> list[tuple]:
    return [parse_id(i).passage_key for i in ids]


def mean_summary(summaries: list[dict]) -> dict:
    """Average every figure over fold models."""
    out = {}
    for key in ("r2", "pearson", "pairwise_accuracy", "r2_free_play"):
        values = [s[key] for s in summaries if s.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    for key in ("r2_per_scale", "pearson_per_scale"):
        out[key] = np.mean([s[key] for s in summaries], axis=0).tolist()
    out["r2_folds"] = [s["r2"] for s in summaries]
    return out


def free_play_r2(scorer, store: FeatureStore, ids: tuple[str, ...]) -> float | None:
    """R² on ``ids`` scored as free play (the score-relative columns 0), for vector models: what the device gives a
    take of a piece not in its repertoire. None for models of other inputs."""
    if not isinstance(scorer, VectorScorer):
        return None
    prediction = scorer.predict_vectors(without_score(store.vectors_for(ids), store.settings))
    return float(summarise(store.labels(ids), prediction, passage_groups(ids))["r2"])


def evaluate(
    config: TrainConfig,
    store: FeatureStore,
    splits: tuple[str, ...],
    runs_dir: Path,
    folds: tuple[int, ...] | None = None,
    progress: bool = True,
) -> dict:
    """Train and score one model per fold of each split; returns the report (JSON-ready)."""
    started = time.perf_counter()
    report = {
        "model": config.model,
        "config": config.to_dict(),
        "feature_settings_sha256": store.settings.sha256(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "splits": {},
        "published": PUBLISHED,
    }
    for split in splits:
        fold_reports = []
        for fold in protocol_folds(store.dataset, split, config.seed):
            if folds is not None and fold.fold not in folds:
                continue
            log.info(
                "%s: %s split, fold %d (%d train, %d validation, %d test)",
                config.model,
                split,
                fold.fold,
                len(fold.train),
                len(fold.validation),
                len(fold.test),
            )
            run_dir = runs_dir / split / f"fold_{fold.fold}"
            scorer = train_run(
                config,
                store,
                fold.train,
                fold.validation,
                run_dir,
                {"split": split, "fold": fold.fold, "test_ids": list(fold.test)},
                progress,
            )
            prediction = scorer.predict(store, fold.test)
            summary = summarise(store.labels(fold.test), prediction, passage_groups(fold.test))
            summary.update(fold=fold.fold, run_dir=str(run_dir), reused_run=scorer.reused)
            summary["r2_free_play"] = free_play_r2(scorer, store, fold.test)
            if split == "work":
                summary["held_out_work"] = parse_id(fold.test[0]).work
            if "onnx_bytes" not in report:
                report["onnx_bytes"] = scorer.onnx_size_bytes()
            fold_reports.append(summary)
            log.info(
                "  R2 %.3f  Pearson %.3f  pairwise %.3f",
                summary["r2"],
                summary["pearson"],
                summary.get("pairwise_accuracy") or float("nan"),
            )
        report["splits"][split] = {"folds": fold_reports, "mean": mean_summary(fold_reports)}
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    return report
