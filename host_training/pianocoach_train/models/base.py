"""What every scorer offers: fit on a fold, predict ids, save to and load from a run folder."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pianocoach_train.config import TrainConfig
from pianocoach_train.feature_store import FeatureStore


@dataclass(frozen=True)
class FoldData:
    store: FeatureStore
    train: tuple[str, ...]
    validation: tuple[str, ...]  # early stopping only


class Scorer(ABC):
    name: str
    input_kind: str  # "vector" or "sequence"
    reused: bool = False  # loaded from a finished run instead of trained
    early_stopped: bool = False  # needs validation ids to stop training

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    @abstractmethod
    def fit(self, data: FoldData, run_dir: Path, progress: bool = True) -> dict:
        """Train; returns what happened (history, best epoch), JSON-ready."""

    @abstractmethod
    def predict(self, store: FeatureStore, ids: tuple[str, ...] | list[str]) -> np.ndarray:
        """Predictions of shape (len(ids), 19) on the label scale."""

    @abstractmethod
    def onnx_size_bytes(self) -> int:
        """Size of the model converted to ONNX (float), to check it fits the device (< 5 MB)."""

    @abstractmethod
    def save(self, run_dir: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, run_dir: Path, config: TrainConfig) -> "Scorer": ...


class VectorScorer(Scorer):
    """A scorer whose input is the fixed-length feature vector."""

    input_kind = "vector"

    def predict(self, store: FeatureStore, ids: tuple[str, ...] | list[str]) -> np.ndarray:
        return self.predict_vectors(store.vectors_for(ids))

    @abstractmethod
    def predict_vectors(self, x: np.ndarray) -> np.ndarray:
        """Predictions for raw feature vectors of shape (n, features)."""


def torch_onnx_bytes(net, example: tuple, input_names: list[str], dynamic_axes: dict) -> int:
    """Export a torch module with the TorchScript exporter (no onnxscript needed) and return its size."""
    import io
    import warnings

    import torch

    buffer = io.BytesIO()
    net.eval()
    with warnings.catch_warnings():
        # tracing warns about Python branches (the GRU's padding check) and batch sizes: expected here
        warnings.simplefilter("ignore")
        torch.onnx.export(net, example, buffer, dynamo=False, input_names=input_names, output_names=["scores"],
                          dynamic_axes=dynamic_axes)
    return len(buffer.getvalue())


def training_vectors(data: FoldData, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Training inputs and labels for vector models, with augmented copies appended when enabled."""
    copies = range(config.augment_copies + 1) if config.augment else range(1)
    ranges = config.augment_ranges()
    x = np.concatenate([data.store.vectors_for(data.train, copy, config.seed, ranges) for copy in copies])
    y = np.concatenate([data.store.labels(data.train)] * len(copies))
    return x, y
