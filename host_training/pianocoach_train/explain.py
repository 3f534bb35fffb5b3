"""Adds "which features matter" to an evaluation report, from the first fold model it trained."""

from __future__ import annotations

import logging
from pathlib import Path

from pianocoach.jsonio import read_json
from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.importance import permutation_importance, plot_importance, plot_saliency
from pianocoach_train.models import load_scorer

log = logging.getLogger(__name__)


def add_explanations(report: dict, store: FeatureStore, out_dir: Path, run: str, examples: int = 3) -> None:
    split, result = next(iter(report["splits"].items()))
    run_dir = Path(result["folds"][0]["run_dir"])
    scorer = load_scorer(run_dir)
    test = tuple(read_json(run_dir / "run.json")["test_ids"])
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = report.setdefault("figures", {})
    if scorer.input_kind == "vector":
        drops = permutation_importance(scorer, store, test)
        path = out_dir / f"{run}-importance.png"
        plot_importance(drops, path, f"{scorer.name}: permutation importance ({split} split, fold 0 test)")
        report["permutation_importance"] = drops
        figures["permutation importance"] = str(path)
    else:
        path = out_dir / f"{run}-saliency.png"
        plot_saliency(scorer, store, list(test[:examples]), path)
        figures["saliency over notes"] = str(path)
    log.info("explanations written to %s", out_dir)
