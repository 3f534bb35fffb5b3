"""Gradient-boosted trees over numbers per heard note (the velocity model, the note-end model), and their ONNX graph
(``ai.onnx.ml`` TreeEnsembleRegressor, which ONNX Runtime runs; a tree ensemble has no weight tensors to quantise)."""

from __future__ import annotations

import numpy as np

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
