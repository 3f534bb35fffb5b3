"""The PercePiano metrics: mean per-scale R², per-scale Pearson r, within-passage pairwise accuracy."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Hashable, Sequence

import numpy as np


def r2_per_scale(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """R² of each column, as sklearn's ``r2_score`` with its defaults (a constant column scores 0 or -inf)."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    residual = ((y_true - y_pred) ** 2).sum(axis=0)
    total = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - residual / total
    r2[total == 0] = np.where(residual[total == 0] == 0, 1.0, 0.0)
    return r2


def r2_mean(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The published metric: the mean of the per-scale R² (sklearn ``r2_score`` default, uniform average)."""
    return float(np.mean(r2_per_scale(y_true, y_pred)))


def pearson_per_scale(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    a = y_true - y_true.mean(axis=0)
    b = y_pred - y_pred.mean(axis=0)
    denominator = np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (a * b).sum(axis=0) / denominator
    return np.where(denominator > 0, r, 0.0)


def pairwise_accuracy(y_true: np.ndarray, y_pred: np.ndarray, groups: Sequence[Hashable]) -> np.ndarray:
    """Per scale: of the pairs of performances in one group (the same passage) whose labels differ,
    the fraction the predictions order the same way. NaN for a scale with no such pair."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        members[group].append(i)
    pairs = np.array([p for idx in members.values() for p in combinations(idx, 2)], dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return np.full(y_true.shape[1], np.nan)
    true_order = np.sign(y_true[pairs[:, 0]] - y_true[pairs[:, 1]])
    pred_order = np.sign(y_pred[pairs[:, 0]] - y_pred[pairs[:, 1]])
    counted = true_order != 0
    agree = (true_order == pred_order) & counted
    with np.errstate(divide="ignore", invalid="ignore"):
        return agree.sum(axis=0) / counted.sum(axis=0)


def summarise(y_true: np.ndarray, y_pred: np.ndarray, groups: Sequence[Hashable] | None = None) -> dict:
    """Every figure for one prediction set, as plain floats (JSON-ready)."""
    r2 = r2_per_scale(y_true, y_pred)
    r = pearson_per_scale(y_true, y_pred)
    out = {
        "n": int(len(y_true)),
        "r2": float(np.mean(r2)),
        "pearson": float(np.mean(r)),
        "r2_per_scale": r2.tolist(),
        "pearson_per_scale": r.tolist(),
    }
    if groups is not None:
        acc = pairwise_accuracy(y_true, y_pred, groups)
        out["pairwise_accuracy"] = float(np.nanmean(acc)) if np.isfinite(acc).any() else None
        out["pairwise_accuracy_per_scale"] = [None if not np.isfinite(a) else float(a) for a in acc]
    return out
