"""The evaluation protocol on the real split files, and eval / release end to end on the synthetic data."""

import json
import subprocess
import sys

import pytest
from real_data import real_percepiano

from pianocoach.features import VECTOR_NAMES
from pianocoach_train.evaluation import evaluate, protocol_folds
from pianocoach_train.percepiano import PercePiano, parse_id
from pianocoach_train.release import train_release
from pianocoach_train.train_config import TrainConfig


@pytest.fixture(scope="module")
def real():
    return PercePiano.open(real_percepiano())


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
        "Schubert_D960_mv2",
        "Schubert_D960_mv3",
        "Schubert_D935_no.3",
        "Beethoven_WoO80",
    }
    assert report["onnx_bytes"] > 0


@pytest.mark.parametrize("model, early_stopped", [("ridge", False), ("blend", True)])
def test_release_never_sees_the_performer_test_list(synthetic_store, tmp_path, model, early_stopped):
    config = TrainConfig(model=model, epochs=3, n_trees=5, boosting_rounds=5)
    out = train_release(config, synthetic_store, tmp_path / "release")
    meta = json.loads((out / "run.json").read_text())
    test = set(synthetic_store.dataset.split("performer").test)
    assert set(meta["excluded_ids"]) == test
    assert not test & set(meta["train_ids"] + meta["validation_ids"])
    assert bool(meta["validation_ids"]) == early_stopped  # only early-stopped models give up training ids
    assert len(meta["train_ids"]) + len(meta["validation_ids"]) == len(synthetic_store.ids) - len(test)
    assert meta["finished"] and meta["feature_settings_sha256"] == synthetic_store.settings.sha256()
    assert (out / "model.pt").is_file()


@pytest.mark.slow
def test_eval_quick_command_writes_the_report(synthetic_root, isolated_outputs):
    out = isolated_outputs / "reports"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pianocoach_train",
            "eval",
            "--model",
            "ridge",
            "--quick",
            "--data",
            str(synthetic_root),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| performer | **" in run.stdout
    report = json.loads((out / "ridge-quick.json").read_text())
    assert list(report["splits"]) == ["performer"] and len(report["splits"]["performer"]["folds"]) == 1
    for name in ("ridge-quick.md", "ridge-quick-per-scale.png", "ridge-quick-importance.png"):
        assert (out / name).stat().st_size > 0
    assert set(report["permutation_importance"]) == set(VECTOR_NAMES)


def test_report_command_redraws_from_json_and_refuses_other_files(tmp_path):
    from pianocoach_train.eval_report import write_report

    report = {
        "model": "m",
        "feature_settings_sha256": "0" * 64,
        "created": "now",
        "wall_seconds": 60.0,
        "published": {},
        "splits": {
            "random": {
                "folds": [{"r2": 0.5}],
                "mean": {
                    "r2": 0.5,
                    "pearson": 0.7,
                    "pairwise_accuracy": None,
                    "r2_per_scale": [0.5] * 19,
                    "r2_folds": [0.5],
                },
            }
        },
    }
    write_report(report, tmp_path, "m")
    (tmp_path / "m.md").unlink()
    run = subprocess.run(
        [sys.executable, "-m", "pianocoach_train", "report", str(tmp_path / "m.json")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "| random | **0.500** | 0.500 | 0.700 | — | — |" in (tmp_path / "m.md").read_text()
    (tmp_path / "other.json").write_text("[1, 2]")
    bad = subprocess.run(
        [sys.executable, "-m", "pianocoach_train", "report", str(tmp_path / "other.json")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "other.json: not an evaluation report" in bad.stderr
