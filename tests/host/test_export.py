"""Export on the synthetic dataset: every scorer family to ONNX with parity, INT8, pruning and figures."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from pianocoach_export.export_models import ExportError, export_model
from pianocoach_export.measure import latency_ms, parity
from pianocoach_train.release import train_release
from pianocoach_train.train_config import TrainConfig

TINY = dict(epochs=6, patience=10, batch_size=8, max_notes=16, n_trees=5, boosting_rounds=10, min_samples_leaf=1)


def release(store, tmp_path, model):
    return train_release(TrainConfig(model=model, **TINY), store, tmp_path / "release" / model, progress=False)


@pytest.mark.parametrize(
    "model, method, int8_op, float_op",
    [
        ("mlp", "static QDQ", "Gemm", "Relu"),
        ("fcn", "static QDQ", "Conv", "AveragePool"),
        ("gru", "dynamic", "MatMulInteger", "GRU"),
        ("blend", "static QDQ", "Gemm", "TreeEnsembleRegressor"),
    ],
)
def test_export_writes_float_and_int8_with_parity_and_figures(
    synthetic_store, tmp_path, model, method, int8_op, float_op
):
    run_dir = release(synthetic_store, tmp_path, model)
    result = export_model(run_dir, synthetic_store, tmp_path / "export", progress=False)
    assert result.parity_max_abs <= 1e-4
    assert result.quantization["method"].startswith(method)
    assert result.quantization["int8_ops"].get(int8_op, 0) >= 1
    assert result.quantization["float_ops"].get(float_op, 0) >= 1
    for variant in (result.float, result.int8):
        assert set(variant) == {"bytes", "r2", "pearson", "latency_ms"}
        assert np.isfinite(variant["r2"]) and variant["latency_ms"] > 0
    if model in ("mlp", "fcn"):  # conv and linear weights shrink to a quarter
        assert result.int8["bytes"] < 0.6 * result.float["bytes"]
    assert result.pruning["weights_zeroed"] == pytest.approx(0.5, abs=0.01)
    saved = json.loads((tmp_path / "export" / "export.json").read_text())
    assert saved["model"] == model and saved["provenance"]["purpose"] == "release"


def test_sequence_models_accept_any_number_of_notes(synthetic_store, tmp_path):
    run_dir = release(synthetic_store, tmp_path, "fcn")
    result = export_model(run_dir, synthetic_store, tmp_path / "export", prune=False, progress=False)
    for path in (result.float_path, result.int8_path):
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        for length in (5, 37, 300):
            notes = np.random.default_rng(length).normal(size=(1, length, 7)).astype(np.float32)
            out = session.run(None, {"notes": notes, "mask": np.ones((1, length), np.float32)})[0]
            assert out.shape == (1, 19) and np.isfinite(out).all()


def test_tree_models_stay_float_and_say_why(synthetic_store, tmp_path):
    run_dir = release(synthetic_store, tmp_path, "extra_trees")
    result = export_model(run_dir, synthetic_store, tmp_path / "export", progress=False)
    assert result.int8 is None and result.int8_path is None and result.pruning is None
    assert "no int8 kernel" in result.quantization["method"]
    assert result.chosen()[1] == "float32"


def test_parity_catches_an_onnx_graph_that_differs_from_the_model(synthetic_store, tmp_path):
    scorer_dir = release(synthetic_store, tmp_path, "mlp")
    from pianocoach_train.models import load_scorer

    scorer = load_scorer(scorer_dir)
    path = tmp_path / "mlp.onnx"
    path.write_bytes(scorer.to_onnx().SerializeToString())
    feeds = scorer.onnx_feeds(synthetic_store, synthetic_store.ids[:4])
    assert parity(path, feeds, scorer.reference_outputs) < 1e-5
    with torch.no_grad():
        scorer.net.body[0].bias.add_(0.01)  # the model moves on; the exported file does not
    assert parity(path, feeds, scorer.reference_outputs) > 1e-4


def test_export_refuses_a_model_that_saw_the_test_list(synthetic_store, tmp_path):
    from pianocoach_train.runs import train_run

    split = synthetic_store.dataset.split("performer")
    run_dir = tmp_path / "leaky"
    train_run(TrainConfig(model="ridge"), synthetic_store, tuple(sorted(split.all_ids())), (), run_dir, progress=False)
    with pytest.raises(ExportError, match="performer-test ids"):
        export_model(run_dir, synthetic_store, tmp_path / "export", progress=False)


def test_latency_times_every_variant_on_the_same_feed(synthetic_store, tmp_path):
    result = export_model(
        release(synthetic_store, tmp_path, "mlp"), synthetic_store, tmp_path / "e", prune=False, progress=False
    )
    feed = {"features": synthetic_store.vectors_for(synthetic_store.ids[:1])}
    times = latency_ms({"float": result.float_path, "int8": result.int8_path}, feed, rounds=20)
    assert set(times) == {"float", "int8"} and all(t > 0 for t in times.values())
