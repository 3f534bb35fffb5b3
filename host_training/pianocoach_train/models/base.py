"""What every scorer offers: fit on a fold, predict ids, save to and load from a run folder."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pianocoach.features import without_score
from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.train_config import TrainConfig

if TYPE_CHECKING:
    import onnx


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
    def to_onnx(self) -> "onnx.ModelProto":
        """The trained model as one float ONNX graph (see ``onnx_graphs`` for names and opset)."""

    def onnx_size_bytes(self) -> int:
        """Size of the model converted to ONNX (float), to check it fits the device (< 5 MB)."""
        return self.to_onnx().ByteSize()

    @abstractmethod
    def onnx_feeds(self, store: FeatureStore, ids: tuple[str, ...] | list[str]) -> list[dict[str, np.ndarray]]:
        """ONNX inputs for these performances, as the device would feed them (batched where it can)."""

    @abstractmethod
    def reference_outputs(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """This model's own (torch or scikit-learn) output for one ONNX feed: what ONNX must reproduce."""

    def torch_modules(self) -> list:
        """The torch networks inside (what magnitude pruning can touch); none for tree models."""
        return []

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

    def onnx_feeds(self, store: FeatureStore, ids: tuple[str, ...] | list[str]) -> list[dict[str, np.ndarray]]:
        return [{"features": store.vectors_for(ids)}]

    def reference_outputs(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.predict_vectors(feed["features"])


def training_vectors(data: FoldData, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Training inputs and labels for vector models, with augmented copies appended when enabled, and a free-play
    copy (the score-relative columns 0) of the rows that have a score: the device scores free play too."""
    copies = range(config.augment_copies + 1) if config.augment else range(1)
    ranges = config.augment_ranges()
    parts = [data.store.vectors_for(data.train, copy, config.seed, ranges) for copy in copies]
    labels = data.store.labels(data.train)
    free = without_score(parts[0], data.store.settings)
    with_score = np.any(free != parts[0], axis=1)
    x = np.concatenate([*parts, free[with_score]])
    y = np.concatenate([labels] * len(parts) + [labels[with_score]])
    return x, y
