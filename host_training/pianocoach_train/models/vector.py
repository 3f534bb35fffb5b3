"""Torch models over the fixed-length descriptor vector: ridge regression and a small MLP.

Input scaling and the label mean live inside the network as buffers, so the exported ONNX graph
takes the raw feature vector.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pianocoach_train.checkpoints import load_checkpoint, save_checkpoint
from pianocoach_train.models.base import FoldData, VectorScorer, training_vectors
from pianocoach_train.models.onnx_graphs import torch_to_onnx
from pianocoach_train.train_config import TrainConfig
from pianocoach_train.training import train_torch

N_SCALES = 19


class VectorNet(nn.Module):
    def __init__(self, n_features: int, body: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.register_buffer("label_mean", torch.zeros(N_SCALES))
        self.body = body

    def set_statistics(self, x: np.ndarray, y: np.ndarray) -> None:
        self.mean.copy_(torch.from_numpy(x.mean(axis=0)))
        self.scale.copy_(torch.from_numpy(x.std(axis=0) + 1e-6))
        self.label_mean.copy_(torch.from_numpy(y.mean(axis=0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.label_mean + self.body((x - self.mean) / self.scale)


def mlp_body(n_features: int, hidden: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, N_SCALES),
    )


class TorchVectorScorer(VectorScorer):
    def __init__(self, config: TrainConfig, n_features: int | None = None) -> None:
        super().__init__(config)
        self.net: VectorNet | None = VectorNet(n_features, self.make_body(n_features)) if n_features else None

    def make_body(self, n_features: int) -> nn.Module:
        raise NotImplementedError

    def predict_vectors(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            return self.net(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()

    def to_onnx(self):
        example = (torch.zeros(1, self.net.mean.shape[0]),)
        return torch_to_onnx(self.net, example, ["features"], {"features": {0: "batch"}})

    def torch_modules(self) -> list:
        return [self.net]

    def save(self, run_dir: Path) -> None:
        save_checkpoint(
            {"config": self.config.to_dict(), "n_features": self.net.mean.shape[0], "model": self.net.state_dict()},
            run_dir / "model.pt",
        )

    @classmethod
    def load(cls, run_dir: Path, config: TrainConfig) -> "TorchVectorScorer":
        state = load_checkpoint(run_dir / "model.pt")
        scorer = cls(config, state["n_features"])
        scorer.net.load_state_dict(state["model"])
        scorer.net.eval()
        return scorer


class RidgeScorer(TorchVectorScorer):
    """Ridge regression on standardised descriptors, solved in closed form (no epochs needed)."""

    name = "ridge"

    def make_body(self, n_features: int) -> nn.Module:
        return nn.Linear(n_features, N_SCALES)

    def fit(self, data: FoldData, run_dir: Path, progress: bool = True) -> dict:
        x, y = training_vectors(data, self.config)
        self.net = VectorNet(x.shape[1], self.make_body(x.shape[1]))
        self.net.set_statistics(x, y)
        z = (x - self.net.mean.numpy()) / self.net.scale.numpy()
        gram = z.T @ z + self.config.ridge_alpha * np.eye(z.shape[1])
        weights = np.linalg.solve(gram, z.T @ (y - self.net.label_mean.numpy()))
        with torch.no_grad():
            self.net.body.weight.copy_(torch.from_numpy(weights.T.astype(np.float32)))
            self.net.body.bias.zero_()
        return {"alpha": self.config.ridge_alpha}


class MLPScorer(TorchVectorScorer):
    name = "mlp"
    early_stopped = True

    def make_body(self, n_features: int) -> nn.Module:
        return mlp_body(n_features, self.config.hidden, self.config.dropout)

    def fit(self, data: FoldData, run_dir: Path, progress: bool = True) -> dict:
        x, y = training_vectors(data, self.config)
        torch.manual_seed(self.config.seed)
        self.net = VectorNet(x.shape[1], self.make_body(x.shape[1]))
        self.net.set_statistics(x, y)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        xv = torch.from_numpy(data.store.vectors_for(data.validation))
        yv = torch.from_numpy(data.store.labels(data.validation))
        size = self.config.batch_size

        def batches(rng: np.random.Generator):
            order = torch.from_numpy(rng.permutation(len(xt)))
            for start in range(0, len(order), size):
                idx = order[start : start + size]
                yield (xt[idx],), yt[idx]

        return train_torch(self.net, batches, lambda: [((xv,), yv)], self.config, run_dir, progress)
