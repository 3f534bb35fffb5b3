"""Training the pedal model (issue 19, item 1): labels on the device's frames, a network whose reach fits the device's
chunks, its ONNX graph against torch, the device's checks of a bundle's pedal model, and putting it into a bundle
without touching the other models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

import pianocoach.bundle
from pianocoach.bundle import Manifest, verify_bundle
from pianocoach.bundle.signing import trusted_keys
from pianocoach.errors import BundleError, PianoCoachError
from pianocoach.features.pedal_frames import CONTEXT_FRAMES, PEDAL_FRAMES_VERSION, frame_times
from pianocoach.features.sound_profile import MEL_BANDS
from pianocoach.scoring.pedal_model import PedalModel
from pianocoach_train.audio.pedal_data import PedalTake, labels
from pianocoach_train.pedal_model import (
    REACH,
    device_probabilities,
    frame_scores,
    network,
    onnx_runner,
    to_onnx,
    write_model,
)


def test_labels_are_the_pedal_at_each_frame_s_centre():
    events = np.array([[1.0, 100], [2.0, 30], [2.5, 64], [3.0, 0]])
    down = labels(events, 80)
    centre = frame_times(80)
    expected = ((centre >= 1.0) & (centre < 2.0)) | ((centre >= 2.5) & (centre < 3.0))
    assert np.array_equal(down, expected) and 0 < down.sum() < 80


def test_the_network_s_reach_fits_the_device_s_chunks_and_its_graph_matches_torch():
    import torch

    assert REACH <= CONTEXT_FRAMES
    torch.manual_seed(0)
    net = network().eval()
    rng = np.random.default_rng(1)
    bands = rng.normal(-50, 20, (MEL_BANDS, 400)).astype(np.float32)
    with torch.no_grad():
        whole = net(torch.from_numpy(bands[None]))[0].numpy()
        # a frame's output does not move when frames further than REACH change (so chunking is exact)
        moved = bands.copy()
        moved[:, 300:] += 30
        changed = net(torch.from_numpy(moved[None]))[0].numpy()
    assert np.allclose(whole[: 300 - REACH], changed[: 300 - REACH], atol=1e-6)
    assert not np.allclose(whole[300 - REACH : 300], changed[300 - REACH : 300], atol=1e-6)
    # the gain cancels inside the graph
    with torch.no_grad():
        louder = net(torch.from_numpy(bands[None] + 12.0))[0].numpy()
    np.testing.assert_allclose(louder, whole, atol=1e-5)
    run = onnx_runner(to_onnx(net))
    np.testing.assert_allclose(run(bands[None]), whole, atol=1e-5)
    np.testing.assert_allclose(device_probabilities(run, bands), whole, atol=1e-5)  # the device's chunks


def test_frame_scores_count_the_pedal_down_frames():
    down = np.array([True] * 6 + [False] * 4)
    take = PedalTake("t", np.zeros((MEL_BANDS, 10), np.float16), down)
    perfect = frame_scores([take], lambda bands: down.astype(np.float32))
    always = frame_scores([take], lambda bands: np.ones(10, np.float32))
    assert perfect["f1"] == 1.0 and always["precision"] == 0.6 and always["recall"] == 1.0


def _graph(path: Path, bands: int = MEL_BANDS, outputs: int = 1) -> Path:
    """A real ONNX graph of the pedal model's form: bands [1, bands, T] -> sigmoid(mean over bands / 20) [1, T]."""
    nodes = [
        helper.make_node("ReduceMean", ["bands"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Div", ["mean", "twenty"], ["scaled"]),
        helper.make_node("Sigmoid", ["scaled"], ["pedal_down"]),
    ]
    outs = [helper.make_tensor_value_info("pedal_down", TensorProto.FLOAT, [1, "frames"])]
    if outputs == 2:
        nodes.append(helper.make_node("Identity", ["mean"], ["extra"]))
        outs.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1, "frames"]))
    graph = helper.make_graph(
        nodes,
        "pedal",
        [helper.make_tensor_value_info("bands", TensorProto.FLOAT, [1, bands, "frames"])],
        outs,
        [helper.make_tensor("twenty", TensorProto.FLOAT, [], [20.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


GOOD = {"frames_version": PEDAL_FRAMES_VERSION, "bands": MEL_BANDS, "reach_frames": 62}


def test_a_bundle_s_pedal_model_is_checked_before_use(tmp_path):
    session = _session(_graph(tmp_path / "good.onnx"))
    model = PedalModel(session, GOOD, tmp_path)
    p = model.run(np.full((1, MEL_BANDS, 9), 20.0, np.float32))
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-1.0)), rtol=1e-5)
    for metrics, words in (
        ({**GOOD, "frames_version": 99}, "frames version 99"),
        ({**GOOD, "bands": 64}, "64 bands"),
        ({**GOOD, "reach_frames": CONTEXT_FRAMES + 1}, "reach"),
        ({**GOOD, "reach_frames": True}, "reach"),
        ({k: v for k, v in GOOD.items() if k != "reach_frames"}, "reach"),
    ):
        with pytest.raises(BundleError, match=words):
            PedalModel(session, metrics, tmp_path)
    with pytest.raises(BundleError, match="reads"):
        PedalModel(_session(_graph(tmp_path / "wide.onnx", bands=64)), GOOD, tmp_path)
    with pytest.raises(BundleError, match="2 outputs"):
        PedalModel(_session(_graph(tmp_path / "two.onnx", outputs=2)), GOOD, tmp_path)


def _trained(folder: Path, version: int = PEDAL_FRAMES_VERSION) -> Path:
    import torch

    torch.manual_seed(0)
    meta = {
        "architecture": "pedal convnet (untrained, for the test)",
        "precision": "float32",
        "frames_version": version,
        "bands": MEL_BANDS,
        "reach_frames": REACH,
        "input": "bands",
        "output": "pedal_down",
        "test": {"clean_frame_f1": 0.5},
    }
    write_model(to_onnx(network()), meta, folder)
    return folder


def test_a_pedal_model_for_other_frames_is_refused(isolated_outputs):
    from pianocoach_export.pedal_export import trained_pedal_model

    with pytest.raises(PianoCoachError, match="make pedal-model"):
        trained_pedal_model(isolated_outputs / "nothing")
    with pytest.raises(PianoCoachError, match="frames version"):
        trained_pedal_model(_trained(isolated_outputs / "old", version=PEDAL_FRAMES_VERSION + 1))
    assert trained_pedal_model(_trained(isolated_outputs / "new")).metrics["reach_frames"] == REACH


def test_a_pedal_model_whose_chunks_would_differ_is_refused_at_export(isolated_outputs):
    """Dynamic INT8 quantisation takes each run's own activation range: the device's chunks would not match one run
    over the take, so export refuses it; so is a stated reach beyond the device's context."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from pianocoach_export.pedal_export import PedalModelRefused, trained_pedal_model

    folder = _trained(isolated_outputs / "dynamic")
    quantize_dynamic(str(folder / "pedal.onnx"), str(folder / "q.onnx"), weight_type=QuantType.QInt8)
    (folder / "q.onnx").replace(folder / "pedal.onnx")
    with pytest.raises(PedalModelRefused, match="chunked runs differ"):
        trained_pedal_model(folder)
    far = _trained(isolated_outputs / "far")
    meta = json.loads((far / "model.json").read_text())
    (far / "model.json").write_text(json.dumps({**meta, "reach_frames": CONTEXT_FRAMES + 10}))
    with pytest.raises(PedalModelRefused, match="reach"):
        trained_pedal_model(far)


def test_a_pedal_model_that_is_not_float_is_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Cast", ["bands"], ["pedal_down"], to=TensorProto.FLOAT)],
        "pedal",
        [helper.make_tensor_value_info("bands", TensorProto.DOUBLE, [1, MEL_BANDS, "frames"])],
        [helper.make_tensor_value_info("pedal_down", TensorProto.FLOAT, [1, MEL_BANDS, "frames"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "double.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(BundleError, match="float tensors"):
        PedalModel(_session(tmp_path / "double.onnx"), GOOD, tmp_path)


def test_adding_it_to_the_default_bundle_keeps_every_other_model(isolated_outputs, tmp_path, monkeypatch, caplog):
    from pianocoach.scoring import BundleScorer
    from pianocoach_export.pedal_export import add_to_default_bundle
    from pianocoach_export.signing import generate_key_pair

    copy = shutil.copytree(pianocoach.bundle.DEFAULT_BUNDLE, tmp_path / "bundle")
    monkeypatch.setattr(pianocoach.bundle, "DEFAULT_BUNDLE", copy)
    before = Manifest.read(copy)
    _trained(isolated_outputs / "artifacts" / "pedal")
    key_path, public = generate_key_pair("test", tmp_path / "keys")
    add_to_default_bundle(key_path)
    after = Manifest.read(copy)
    assert verify_bundle(copy, trusted_keys([public])).ok
    roles = {m.role: m for m in after.models}
    assert roles["pedal"].metrics["test"] == {"clean_frame_f1": 0.5}
    for model in before.models:
        if model.role not in ("pedal", "note_end"):
            assert after.files[model.file].sha256 == before.files[model.file].sha256
    # the note-end model learned with the old pedal model: left out (said), as the device would refuse the pair
    assert before.model("note_end") is not None and after.model("note_end") is None
    assert "the bundle goes without a note-end model" in caplog.text
    assert json.loads((copy / "manifest.json").read_text())["bundle_id"] != before.bundle_id
    (tmp_path / "trust").mkdir()
    shutil.copy(public, tmp_path / "trust" / public.name)
    monkeypatch.setenv("PIANOCOACH_TRUSTED_KEYS", str(tmp_path / "trust"))
    assert BundleScorer(copy).pedal_model is not None  # the device loads it


def test_the_health_check_refuses_a_signed_pedal_model_whose_chunks_differ(isolated_outputs, tmp_path, monkeypatch):
    """A bundle signed with a dynamically quantised pedal model (which export refuses): the device's health check runs
    it over several chunks against one run, and fails the bundle, so an install rolls it back."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from pianocoach.scoring.health import health_check
    from pianocoach_export.bundle_additions import with_model
    from pianocoach_export.bundle_assembly import bundle_id, signing_key, write_verified
    from pianocoach_export.bundle_writer import BundleModel, models_from_bundle
    from pianocoach_export.signing import generate_key_pair

    folder = _trained(isolated_outputs / "dynamic")
    quantize_dynamic(str(folder / "pedal.onnx"), str(folder / "q.onnx"), weight_type=QuantType.QInt8)
    meta = json.loads((folder / "model.json").read_text())
    pedal = BundleModel(
        "pedal", folder / "q.onnx", "pedal convnet", "int8", ("pedal_down",), metrics={k: meta[k] for k in GOOD}
    )
    models, audio_path = models_from_bundle(pianocoach.bundle.DEFAULT_BUNDLE)
    key_path, public = generate_key_pair("test", tmp_path / "keys")
    out = tmp_path / "bundle"
    paired = [m for m in with_model(models, pedal) if m.role != "note_end"]  # it learned with the committed pedal
    write_verified(paired, signing_key(key_path), out, None, bundle_id("test"), audio_path)
    (tmp_path / "trust").mkdir()
    shutil.copy(public, tmp_path / "trust" / public.name)
    monkeypatch.setenv("PIANOCOACH_TRUSTED_KEYS", str(tmp_path / "trust"))
    report = health_check(out)
    assert not report["healthy"] and any("chunked runs differ" in p for p in report["problems"]), report["problems"]
