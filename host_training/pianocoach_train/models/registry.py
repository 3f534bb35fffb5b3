"""Model names -> scorer classes; building a fresh scorer and loading a saved one."""

from __future__ import annotations

from pathlib import Path

from pianocoach.jsonio import read_json
from pianocoach_train.models.base import Scorer
from pianocoach_train.train_config import TrainConfig

MODEL_NAMES = ("ridge", "mlp", "extra_trees", "boosting", "blend", "fcn", "gru")


def _scorer_class(name: str):
    from pianocoach_train.models import sequence, trees, vector

    classes = {
        "ridge": vector.RidgeScorer,
        "mlp": vector.MLPScorer,
        "extra_trees": trees.ExtraTreesScorer,
        "boosting": trees.BoostingScorer,
        "blend": trees.BlendScorer,
    }
    if name in ("fcn", "gru"):
        return lambda config: sequence.SequenceScorer(config, name), sequence.SequenceScorer
    if name not in classes:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    return classes[name], classes[name]


def build_scorer(config: TrainConfig) -> Scorer:
    factory, _ = _scorer_class(config.model)
    return factory(config)


def load_scorer(run_dir: str | Path) -> Scorer:
    """Load a trained scorer from its run folder (``config.json`` says which model it is)."""
    run_dir = Path(run_dir)
    config = TrainConfig.from_dict(read_json(run_dir / "config.json", what="run config"))
    _, cls = _scorer_class(config.model)
    return cls.load(run_dir, config)
