"""Tree ensembles over the descriptor vector (scikit-learn; exported as ONNX-ML TreeEnsemble).

``extra_trees`` is one multi-output forest; ``boosting`` one gradient-boosted model per scale;
``blend`` averages the two with the MLP, exported as one graph. Sizes are kept small enough for the device
(< 5 MB as one ONNX graph):
an extra-trees forest grows about 60 KB of ONNX per tree at 900 training rows and 3 samples a leaf.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor
from sklearn.multioutput import MultiOutputRegressor

from pianocoach_train.models.base import FoldData, VectorScorer, training_vectors
from pianocoach_train.models.onnx_graphs import average_models, sklearn_to_onnx
from pianocoach_train.models.vector import MLPScorer
from pianocoach_train.train_config import TrainConfig


def extra_trees(config: TrainConfig) -> ExtraTreesRegressor:
    return ExtraTreesRegressor(
        n_estimators=config.n_trees,
        min_samples_leaf=config.min_samples_leaf,
        max_features=1.0,
        n_jobs=2,
        random_state=config.seed,
    )


def boosting(config: TrainConfig) -> MultiOutputRegressor:
    return MultiOutputRegressor(
        # plain GradientBoostingRegressor: skl2onnx 1.20 fails on sklearn 1.9's HistGradientBoosting
        GradientBoostingRegressor(
            n_estimators=config.boosting_rounds,
            learning_rate=0.05,
            max_depth=3,
            subsample=0.8,
            random_state=config.seed,
        ),
        n_jobs=2,
    )


class TreeScorer(VectorScorer):
    def __init__(self, config: TrainConfig, estimators: list | None = None) -> None:
        super().__init__(config)
        self.estimators = estimators or []

    def make_estimators(self) -> list:
        raise NotImplementedError

    def fit(self, data: FoldData, run_dir: Path, progress: bool = True) -> dict:
        x, y = training_vectors(data, self.config)
        self.estimators = [est.fit(x, y) for est in self.make_estimators()]
        return {"train_rows": int(len(x))}

    def predict_vectors(self, x: np.ndarray) -> np.ndarray:
        return np.mean([est.predict(x) for est in self.estimators], axis=0).astype(np.float32)

    def onnx_parts(self) -> list:
        return [sklearn_to_onnx(est, est.n_features_in_) for est in self.estimators]

    def to_onnx(self):
        parts = self.onnx_parts()
        return parts[0] if len(parts) == 1 else average_models(parts)

    def save(self, run_dir: Path) -> None:
        joblib.dump(self.estimators, run_dir / "model.joblib")

    @classmethod
    def load(cls, run_dir: Path, config: TrainConfig) -> "TreeScorer":
        return cls(config, joblib.load(run_dir / "model.joblib"))


class ExtraTreesScorer(TreeScorer):
    name = "extra_trees"

    def make_estimators(self) -> list:
        return [extra_trees(self.config)]


class BoostingScorer(TreeScorer):
    name = "boosting"

    def make_estimators(self) -> list:
        return [boosting(self.config)]


class TreePair(TreeScorer):
    name = "tree_pair"

    def make_estimators(self) -> list:
        return [extra_trees(self.config), boosting(self.config)]


class BlendScorer(VectorScorer):
    """Equal-weight average of extra trees, per-scale gradient boosting and the MLP.

    Averaging the trees with the MLP lifted performer-split R² by about 0.02 over the trees alone.
    """

    name = "blend"
    early_stopped = True  # its MLP

    def __init__(self, config: TrainConfig, trees: TreePair | None = None, mlp: MLPScorer | None = None) -> None:
        super().__init__(config)
        self.trees = trees or TreePair(config)
        self.mlp = mlp or MLPScorer(config)

    def fit(self, data: FoldData, run_dir: Path, progress: bool = True) -> dict:
        return {"trees": self.trees.fit(data, run_dir, progress), "mlp": self.mlp.fit(data, run_dir, progress)}

    def predict_vectors(self, x: np.ndarray) -> np.ndarray:
        parts = [est.predict(x) for est in self.trees.estimators] + [self.mlp.predict_vectors(x)]
        return np.mean(parts, axis=0).astype(np.float32)

    def to_onnx(self):
        return average_models(self.trees.onnx_parts() + [self.mlp.to_onnx()])

    def torch_modules(self) -> list:
        return self.mlp.torch_modules()

    def save(self, run_dir: Path) -> None:
        self.trees.save(run_dir)
        self.mlp.save(run_dir)

    @classmethod
    def load(cls, run_dir: Path, config: TrainConfig) -> "BlendScorer":
        return cls(config, TreePair.load(run_dir, config), MLPScorer.load(run_dir, config))
