"""What export measures: ONNX-vs-original parity, R² and Pearson r on the performer test list, and
single-thread latency of float and INT8 side by side."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pianocoach.bundle.verify import open_session
from pianocoach_train.metrics import pearson_per_scale, r2_mean


def predict(path: Path, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Every output of the model for every feed, outputs side by side: (rows, all output columns)."""
    sess = open_session(path)
    return np.concatenate([np.concatenate(sess.run(None, feed), axis=1) for feed in feeds])


def parity(path: Path, feeds: list[dict[str, np.ndarray]], reference) -> float:
    """Largest absolute difference between ONNX Runtime and the original model on the same feeds."""
    onnx_out = predict(path, feeds)
    original = np.concatenate([reference(feed) for feed in feeds])
    return float(np.abs(onnx_out.astype(np.float64) - original).max())


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {
        "r2": round(r2_mean(labels, predictions), 4),
        "pearson": round(float(np.mean(pearson_per_scale(labels, predictions))), 4),
    }


def latency_ms(paths: dict[str, Path], feed: dict[str, np.ndarray], rounds: int = 200) -> dict[str, float]:
    """Median milliseconds per call on one thread. The variants take turns call by call, so a busy
    moment on the machine hits them alike (these hosts have 2 cores: compare, don't quote alone)."""
    sessions = {name: open_session(path, threads=1) for name, path in paths.items()}
    for sess in sessions.values():  # warm-up: first calls allocate
        for _ in range(5):
            sess.run(None, feed)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, sess in sessions.items():
            start = time.perf_counter()
            sess.run(None, feed)
            times[name].append(time.perf_counter() - start)
    return {name: round(1000 * float(np.median(t)), 4) for name, t in times.items()}
