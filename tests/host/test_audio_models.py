"""The audio models: forward shapes on a tiny batch, ONNX parity, Grad-CAM, a short training run and the
per-performance aggregation of block scores."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from pianocoach.jsonio import read_json
from pianocoach_train.audio.data import RenderedSet, aggregate
from pianocoach_train.audio.gradcam import grad_cam
from pianocoach_train.audio.models import ARCHITECTURES, build_net
from pianocoach_train.audio.train import AUDIO_CONFIG, AudioScorer, train_audio_run


def fake_set(n_ids=12, blocks=3, seed=0) -> tuple[RenderedSet, dict]:
    """Blocks whose loudness carries the label, so a model can learn something."""
    rng = np.random.default_rng(seed)
    ids = [f"perf_{i:02d}" for i in range(n_ids)]
    rendered = RenderedSet("fake", ids)
    levels = rng.uniform(-60, -10, n_ids)
    mel = np.concatenate([rng.normal(levels[i], 5, (blocks, 1, 64, 100)) for i in range(n_ids)]).astype(np.float16)
    rendered.arrays = {
        "mel": mel,
        "contour": rng.random((n_ids * blocks, 3, 100)).astype(np.float16),
        "rhythm": rng.random((n_ids * blocks, 2)).astype(np.float32),
        "activity": rng.random(n_ids * blocks).astype(np.float32),
    }
    rendered.rows = {ident: (i * blocks, (i + 1) * blocks) for i, ident in enumerate(ids)}
    labels = {ident: np.full(19, 0.5 + (levels[i] + 35) / 100, dtype=np.float32) for i, ident in enumerate(ids)}
    return rendered, labels


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_each_model_maps_a_tiny_batch_of_blocks_to_19_scales_and_exports_to_onnx(name, tmp_path):
    scorer = AudioScorer(AUDIO_CONFIG.with_overrides(model=name))
    feeds = scorer.example_feeds(batch=3)
    out = scorer.reference_outputs(feeds)
    assert out.shape == (3, 19) and np.isfinite(out).all()
    path = tmp_path / "m.onnx"
    path.write_bytes(scorer.to_onnx().SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(scorer.inputs)
    assert np.abs(session.run(None, feeds)[0] - out).max() < 1e-4
    expected_inputs = {
        "pc_fcn": ("contour", "rhythm"),
        "m_crnn": ("mel", "rhythm"),
        "hybrid": ("mel", "contour", "rhythm"),
    }
    assert scorer.inputs == expected_inputs[name]


def test_unknown_model_names_are_refused():
    with pytest.raises(ValueError, match="unknown audio model"):
        build_net("wavenet")


def test_grad_cam_gives_one_0_to_1_map_per_block_on_the_mel_grid():
    # an untrained net: with some random initialisations every weighted activation is negative and the map is all
    # zeros (seen once in a full run), so the weights are seeded
    torch.manual_seed(0)
    scorer = AudioScorer(AUDIO_CONFIG.with_overrides(model="m_crnn"))
    cams = grad_cam(scorer, scorer.example_feeds(batch=2), target=18)
    assert cams.shape == (2, 64, 100) and cams.min() >= 0 and cams.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no mel branch"):
        grad_cam(AudioScorer(AUDIO_CONFIG.with_overrides(model="pc_fcn")), {}, 0)


def test_a_short_training_run_learns_loudness_and_is_reused(tmp_path):
    torch.set_num_threads(1)
    rendered, labels = fake_set()
    ids = sorted(labels)
    config = AUDIO_CONFIG.with_overrides(model="m_crnn", epochs=25, patience=25, batch_size=8)
    scorer = train_audio_run(config, [rendered], labels, tuple(ids[:9]), tuple(ids[9:]), tmp_path / "run")
    meta = read_json(tmp_path / "run" / "run.json")
    assert meta["finished"] and meta["soundfonts"] == ["fake"] and meta["fit"]["epochs_run"] >= 1
    history = read_json(tmp_path / "run" / "history.json")
    assert min(history["val_loss"]) < history["val_loss"][0]
    mean, weighted = scorer.predict(rendered, ids)
    assert mean.shape == weighted.shape == (len(ids), 19)
    truth = np.stack([labels[i] for i in ids])[:, 0]
    assert np.corrcoef(mean[:, 0], truth)[0, 1] > 0.5
    again = train_audio_run(config, [rendered], labels, tuple(ids[:9]), tuple(ids[9:]), tmp_path / "run")
    assert again.reused and np.allclose(again.predict(rendered, ids)[0], mean, atol=1e-5)


def test_blocks_are_aggregated_by_plain_and_activity_weighted_means():
    rendered, _ = fake_set(n_ids=2, blocks=2)
    rendered.arrays["activity"] = np.array([1.0, 3.0, 0.0, 0.0], dtype=np.float32)
    scores = np.array([[0.2] * 19, [0.6] * 19, [0.4] * 19, [0.8] * 19])
    mean, weighted = aggregate(scores, rendered, ["perf_00", "perf_01"])
    assert mean[:, 0] == pytest.approx([0.4, 0.6])
    assert weighted[:, 0] == pytest.approx([0.5, 0.6])  # (0.2 + 3 x 0.6) / 4; no activity: the plain mean
