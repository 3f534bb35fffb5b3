"""The training loop and every model family on the synthetic dataset (tiny, seconds to train)."""

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from pianocoach_train.models import load_scorer
from pianocoach_train.runs import read_json, train_run
from pianocoach_train.train_config import TrainConfig
from pianocoach_train.training import train_torch


def fold(store):
    split = store.dataset.split("performer")
    return split.fold(0)


def test_mlp_loss_goes_down_and_early_stopping_stops(synthetic_store, tmp_path):
    f = fold(synthetic_store)
    config = TrainConfig(model="mlp", epochs=300, patience=5, lr=3e-3, augment=False)
    scorer = train_run(config, synthetic_store, f.train, f.validation, tmp_path / "run", progress=False)
    history = (tmp_path / "run" / "history.json").read_text()
    import json

    history = json.loads(history)
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["stopped_early"] and len(history["val_loss"]) < 300
    assert len(history["val_loss"]) == history["best_epoch"] + config.patience + 1
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000
    reloaded = load_scorer(tmp_path / "run")
    assert np.array_equal(reloaded.predict(synthetic_store, f.test), scorer.predict(synthetic_store, f.test))


@pytest.mark.parametrize("model", ["fcn", "gru"])
def test_sequence_models_train_and_reload(synthetic_store, tmp_path, model):
    f = fold(synthetic_store)
    config = TrainConfig(model=model, epochs=4, patience=10, batch_size=8, max_notes=16)
    scorer = train_run(config, synthetic_store, f.train, f.validation, tmp_path / model, progress=False)
    prediction = scorer.predict(synthetic_store, f.test)
    assert prediction.shape == (len(f.test), 19) and np.isfinite(prediction).all()
    reloaded = load_scorer(tmp_path / model)
    assert np.allclose(reloaded.predict(synthetic_store, f.test), prediction, atol=1e-6)
    assert 10_000 < scorer.onnx_size_bytes() < 5_000_000


@pytest.mark.parametrize("model", ["extra_trees", "boosting", "blend"])
@pytest.mark.slow
def test_tree_models_learn_and_reload(synthetic_store, tmp_path, model):
    f = fold(synthetic_store)
    config = TrainConfig(model=model, n_trees=10, boosting_rounds=20, min_samples_leaf=1)
    scorer = train_run(config, synthetic_store, f.train, f.validation, tmp_path / model, progress=False)
    reloaded = load_scorer(tmp_path / model)
    assert np.array_equal(reloaded.predict(synthetic_store, f.test), scorer.predict(synthetic_store, f.test))
    assert 0 < scorer.onnx_size_bytes() < 5_000_000


def test_ridge_is_sklearn_ridge_on_standardised_features(synthetic_store, tmp_path):
    f = fold(synthetic_store)
    config = TrainConfig(model="ridge", ridge_alpha=3.0, augment=False)
    scorer = train_run(config, synthetic_store, f.train, f.validation, tmp_path / "ridge", progress=False)
    x, y = synthetic_store.vectors_for(f.train).astype(np.float64), synthetic_store.labels(f.train)
    mean, std = x.mean(0), x.std(0) + 1e-6
    reference = Ridge(alpha=3.0).fit((x - mean) / std, y)
    x_test = synthetic_store.vectors_for(f.test)
    assert np.allclose(scorer.predict(synthetic_store, f.test), reference.predict((x_test - mean) / std), atol=1e-4)


def test_a_finished_run_is_loaded_not_retrained(synthetic_store, tmp_path):
    f = fold(synthetic_store)
    config = TrainConfig(model="ridge")
    train_run(config, synthetic_store, f.train, f.validation, tmp_path / "r", progress=False)
    model_file = tmp_path / "r" / "model.pt"
    stamp = model_file.stat().st_mtime_ns
    train_run(config, synthetic_store, f.train, f.validation, tmp_path / "r", progress=False)
    assert model_file.stat().st_mtime_ns == stamp
    # the same config on other features (the feature version bumped since) is trained again, not resumed
    synthetic_store.settings = dataclasses.replace(
        synthetic_store.settings, version=synthetic_store.settings.version + 1
    )
    train_run(config, synthetic_store, f.train, f.validation, tmp_path / "r", progress=False)
    assert model_file.stat().st_mtime_ns != stamp
    assert read_json(tmp_path / "r" / "run.json")["feature_settings_sha256"] == synthetic_store.settings.sha256()


def test_a_checkpoint_left_by_a_run_on_other_features_is_not_resumed(synthetic_store, tmp_path):
    f = fold(synthetic_store)
    run_dir = tmp_path / "mlp"
    run_dir.mkdir()
    (run_dir / "run.json").write_text('{"feature_settings_sha256": "other", "finished": false}')
    (run_dir / "last.pt").write_bytes(b"not a checkpoint of these features")  # loading it would fail
    config = TrainConfig(model="mlp", epochs=2, patience=100)
    train_run(config, synthetic_store, f.train, f.validation, run_dir, progress=False)
    assert read_json(run_dir / "run.json")["finished"] is True


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    torch.manual_seed(0)
    x, y = torch.randn(64, 3), torch.randn(64, 19)
    config = TrainConfig(model="mlp", epochs=6, patience=100)
    calls = {"n": 0}

    def batches(rng):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # the fourth epoch is interrupted
        yield (x,), y

    net = torch.nn.Linear(3, 19)
    with pytest.raises(KeyboardInterrupt):
        train_torch(net, batches, lambda: [((x,), y)], config, tmp_path, progress=False)
    net = torch.nn.Linear(3, 19)
    history = train_torch(net, batches, lambda: [((x,), y)], config, tmp_path, progress=False)
    assert len(history["train_loss"]) == 6  # epochs 0-2 from the first attempt, 3-5 after resuming
    assert calls["n"] == 7


def test_augmented_copies_change_timing_and_dynamics_but_not_pitch(synthetic_store):
    config = TrainConfig()
    plain = synthetic_store.vectors(0)
    copy = synthetic_store.vectors(1, config.seed, config.augment_ranges())
    names = list(synthetic_store.settings.vector_names)
    pitch_cols = [names.index(n) for n in ("pitch_mean", "pitch_range", "pitch_class_C")]
    assert np.allclose(plain[:, pitch_cols], copy[:, pitch_cols])  # no transposition by default
    tempo, velocity = names.index("tempo_ioi_bpm"), names.index("velocity_mean")
    ratio = copy[:, tempo] / plain[:, tempo]
    assert np.all((ratio > 0.96) & (ratio < 1.04)) and not np.allclose(ratio, 1.0)
    assert not np.allclose(copy[:, velocity], plain[:, velocity])
