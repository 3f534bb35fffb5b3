"""Gradient-boosted trees over numbers per heard note (the velocity model, the note-end model), and their ONNX graph
(``ai.onnx.ml`` TreeEnsembleRegressor, which ONNX Runtime runs; a tree ensemble has no weight tensors to quantise)."""

from __future__ import annotations

import numpy as np

from pianocoach_train.transcription_eval import ONSET_TOLERANCE_S  # mir_eval's default, 50 ms

# 200 trees of 15 leaves, each on half the notes (HistGradientBoosting was 0.15 better on a first velocity feature set,
# but skl2onnx 1.20 cannot convert scikit-learn 1.9's: "Field onnx.AttributeProto.ints: Expected an int, got a boolean")
TREES, LEAVES, SUBSAMPLE = 200, 15, 0.5


def fit(features: np.ndarray, target: np.ndarray, trees: int = TREES, leaves: int = LEAVES, seed: int = 0):
    """Trees fitted to the absolute error (a median per leaf: a few wildly wrong labels do not pull it)."""
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(
        loss="absolute_error", n_estimators=trees, max_leaf_nodes=leaves, subsample=SUBSAMPLE, random_state=seed
    ).fit(features, target)


def to_onnx(model, input_name: str, width: int) -> bytes:
    """The fitted trees as an ONNX graph reading float32 [notes, width] from ``input_name``."""
    from skl2onnx import to_onnx as convert
    from skl2onnx.common.data_types import FloatTensorType

    graph = convert(model, initial_types=[(input_name, FloatTensorType([None, width]))], target_opset=17)
    return graph.SerializeToString()


def matched_by_onset(played, heard) -> tuple[np.ndarray, np.ndarray]:
    """Indices (played, heard) of the heard notes whose onset matches a played note: same pitch, within 50 ms
    (mir_eval's note matching, offsets ignored): the examples the per-note models learn from."""
    import mir_eval

    pairs = mir_eval.transcription.match_notes(
        np.c_[played.onset, played.onset + 0.1],
        mir_eval.util.midi_to_hz(played.pitch.astype(float)),
        np.c_[heard.onset, heard.onset + 0.1],
        mir_eval.util.midi_to_hz(heard.pitch.astype(float)),
        onset_tolerance=ONSET_TOLERANCE_S,
        offset_ratio=None,
    )
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    truth, found = (np.array(column, dtype=np.int64) for column in zip(*pairs))
    return truth, found


def map_takes(function, jobs: list, workers: int, desc: str, progress: bool = True) -> list:
    """``function`` over ``jobs`` (one render each) in ``workers`` processes, with a progress bar, in order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    bar = dict(total=len(jobs), desc=desc, unit="take", disable=not progress or None)
    if workers <= 1:
        return list(tqdm(map(function, jobs), **bar))
    # forkserver: a process forked after ONNX Runtime started its threads can hang (feature_store.py)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        return list(tqdm(pool.map(function, jobs, chunksize=16), **bar))
