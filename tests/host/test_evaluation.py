"""The evaluation protocol on the real split files, and eval / release end to end on the synthetic data."""

import json
import subprocess
import sys

import pytest

from pianocoach.features import VECTOR_NAMES
from pianocoach_train.config import TrainConfig
from pianocoach_train.evaluation import evaluate, protocol_folds
from pianocoach_train.percepiano import PercePiano, parse_id
from pianocoach_train.release import train_release
from pianocoach_train.settings import percepiano_root


@pytest.fixture(scope="module")
def real():
    return PercePiano.open(percepiano_root())


def test_performer_and_piece_folds_score_on_the_common_test_list(real):
    for split, size in (("performer", 193), ("piece", 181)):
        folds = protocol_folds(real, split)
        assert len(folds) == 4 and all(len(f.test) == size for f in folds)
        assert all(not set(f.validation) & set(f.test) for f in folds)


def test_work_split_never_early_stops_on_the_held_out_work(real):
    folds = protocol_folds(real, "work")
    assert sorted(parse_id(f.test[0]).work for f in folds) == sorted({p.work for p in real.performances()})
    for f in folds:
        held_out = {parse_id(i).work for i in f.test}
        assert len(held_out) == 1
        assert not held_out & {parse_id(i).work for i in f.train + f.validation}
        assert len(f.validation) == pytest.approx(0.1 * (len(f.train) + len(f.validation)), abs=1)


def test_random_split_is_a_seeded_80_10_10_partition(real):
    (fold,) = protocol_folds(real, "random")
    assert (len(fold.train), len(fold.validation), len(fold.test)) == (961, 120, 121)
    assert len(set(fold.train) | set(fold.validation) | set(fold.test)) == 1202
    assert protocol_folds(real, "random") == [fold]


def test_evaluate_reports_every_fold_and_the_mean(synthetic_store, tmp_path):
    config = TrainConfig(model="ridge", ridge_alpha=1.0, augment=False)
    report = evaluate(config, synthetic_store, ("performer", "work"), tmp_path / "runs", progress=False)
    performer = report["splits"]["performer"]
    assert len(performer["folds"]) == 4 and len(performer["mean"]["r2_per_scale"]) == 19
    assert performer["mean"]["r2"] == pytest.approx(sum(f["r2"] for f in performer["folds"]) / 4)
    # the synthetic labels follow tempo and velocity: the model orders the test performances right
    assert performer["mean"]["pearson"] > 0.8
    assert {f["held_out_work"] for f in report["splits"]["work"]["folds"]} == {
        "Schubert_D960_mv2", "Schubert_D960_mv3", "Schubert_D935_no.3", "Beethoven_WoO80"}
    assert report["onnx_bytes"] > 0


def test_release_never_sees_the_performer_test_list(synthetic_store, tmp_path):
    out = train_release(TrainConfig(model="mlp", epochs=3), synthetic_store, tmp_path / "release")
    meta = json.loads((out / "run.json").read_text())
    test = set(synthetic_store.dataset.split("performer").test)
    assert set(meta["excluded_ids"]) == test
    assert not test & set(meta["train_ids"] + meta["validation_ids"])
    assert meta["finished"] and meta["feature_settings_sha256"] == synthetic_store.settings.sha256()
    assert (out / "model.pt").is_file()


def test_eval_quick_command_writes_the_report(synthetic_root, isolated_outputs):
    out = isolated_outputs / "reports"
    run = subprocess.run([sys.executable, "-m", "pianocoach_train", "eval", "--model", "ridge", "--quick",
                          "--data", str(synthetic_root), "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| performer | **" in run.stdout
    report = json.loads((out / "ridge-quick.json").read_text())
    assert list(report["splits"]) == ["performer"] and len(report["splits"]["performer"]["folds"]) == 1
    for name in ("ridge-quick.md", "ridge-quick-per-scale.png", "ridge-quick-importance.png"):
        assert (out / name).stat().st_size > 0
    assert set(report["permutation_importance"]) == set(VECTOR_NAMES)
