"""Training the "is this a piano?" check: the clips it learns from, the hand-written ONNX graph against
scikit-learn, its thresholds, and putting it into a bundle without touching the other models."""

import json
import shutil

import numpy as np
import pytest
from sklearn.base import clone

import pianocoach.bundle
from pianocoach.bundle import Manifest, verify_bundle
from pianocoach.bundle.signing import trusted_keys
from pianocoach.errors import PianoCoachError
from pianocoach.features import NoteTable
from pianocoach.features.sound_profile import PROFILE_NAMES, PROFILE_VERSION
from pianocoach.scoring.sound_check import CLASSES, HELD, PIANO, STRUCK
from pianocoach_train.audio.noises import TRAIN_SENTENCES
from pianocoach_train.sound_check_data import (
    CLIP_S,
    ROOM_LEAD_S,
    ROOM_TAIL_S,
    ClipSpec,
    clip_audio,
    steady_noise,
    top_line,
)
from pianocoach_train.sound_check_model import (
    FEATURE_SETS,
    REFUSE_QUANTILE,
    WARN_QUANTILE,
    candidates,
    feature_columns,
    onnx_probabilities,
    sound_class,
    to_onnx,
    unseen_piano_thresholds,
    verdicts,
)


def separable(seed: int = 0, n: int = 300, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.standard_normal((n, len(PROFILE_NAMES))) * rng.uniform(0.1, 5.0, len(PROFILE_NAMES))
    x[:, 3] = rng.standard_normal(n) + 3.0 * (y == 0)
    x[:, 9] = rng.standard_normal(n) + 3.0 * (y == 2)
    return x.astype(np.float32), y


@pytest.mark.parametrize("name", ["logistic regression", "mlp 32"])
@pytest.mark.parametrize("classes", [2, 3])
def test_the_onnx_graph_gives_scikit_learns_probabilities(name, classes):
    x, y = separable(classes=classes)
    columns = feature_columns(FEATURE_SETS[1])
    model = candidates()[name].fit(x[:, columns], y)
    expected = model.predict_proba(x[:, columns])
    found = onnx_probabilities(to_onnx(model, columns), x)  # the whole profile in, the unused numbers ignored
    assert found.shape == expected.shape == (len(y), classes)
    assert np.max(np.abs(found - expected)) < 1e-4
    assert np.mean(found.argmax(axis=1) == y) > 0.6  # it learned the planted differences


def test_thresholds_come_from_the_pianos_of_the_soundfont_left_out():
    x, y = separable(n=600)
    groups = np.arange(len(y)) % 2
    model = candidates()["logistic regression"]
    found = unseen_piano_thresholds(model, x, y, groups)
    refuse, refuse_piano, warn = [], [], []
    for held in (0, 1):  # trained on one group, the quantiles of the other group's pianos
        p = clone(model).fit(x[groups != held], y[groups != held]).predict_proba(x[groups == held])
        pianos = p[y[groups == held] == PIANO]
        refuse.append(np.quantile(pianos[:, HELD], REFUSE_QUANTILE))
        refuse_piano.append(np.quantile(pianos[:, PIANO], 1 - REFUSE_QUANTILE))
        warn.append(np.quantile(pianos[:, PIANO], WARN_QUANTILE))
    assert found["refuse_above"] == pytest.approx(np.mean(refuse), abs=1e-4)
    assert found["warn_below"] == pytest.approx(np.mean(warn), abs=1e-4)
    assert found["refuse_piano_below"] == pytest.approx(np.mean(refuse_piano), abs=1e-5)
    assert found["unseen_soundfont_held_refused"] > 0.3  # the planted held-sound number is found
    p = np.array([[0.1, 0.1, 0.8], [0.2, 0.7, 0.1], [0.9, 0.05, 0.05]])
    assert list(verdicts(p, 0.6, 0.01, 0.3, np.zeros(3, bool))) == ["refused", "warned", "accepted"]
    assert list(verdicts(p, 0.6, 0.01, 0.3, np.ones(3, bool))) == ["warned", "warned", "accepted"]  # quiet or noisy


def test_every_clip_has_a_class():
    assert sound_class(ClipSpec("piano", "piano", "x")) == PIANO
    assert sound_class(ClipSpec("instrument", "guitar", "x", program=25)) == STRUCK
    assert sound_class(ClipSpec("instrument", "organ", "x", program=19)) == HELD
    assert sound_class(ClipSpec("speech", "en", TRAIN_SENTENCES[0])) == HELD
    assert sound_class(ClipSpec("electric piano", "electric piano", "x", program=4)) == STRUCK


def test_the_top_line_keeps_the_highest_note_of_each_chord_until_the_next():
    table = NoteTable.from_arrays(
        [0.0, 0.01, 0.02, 1.0, 1.0], [2.0, 2.0, 2.0, 1.5, 1.5], [48, 64, 60, 50, 67], [60] * 5
    )
    line = top_line(table)
    assert list(line.pitch) == [64, 67]
    assert list(line.offset) == [1.0, 1.5]  # held until the next chord, not over it


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "hum", "fan", "traffic"])
def test_synthetic_noises_are_clip_length_and_bounded(kind):
    audio = steady_noise(kind, np.random.default_rng(0))
    assert len(audio) == int(CLIP_S * 44100) and np.all(np.isfinite(audio)) and 0.1 < np.abs(audio).max() <= 0.3 + 1e-6


def test_speech_comes_from_espeak_ng():
    audio = clip_audio(ClipSpec("speech", "en", TRAIN_SENTENCES[0], seed=1, augmented=False), {})
    assert 2.0 < len(audio) / 44100 <= CLIP_S + ROOM_LEAD_S[1] + ROOM_TAIL_S[1] and np.abs(audio).max() > 0.1


def trained(folder, version=PROFILE_VERSION):
    from pianocoach_train.sound_check_model import write_model

    x, y = separable()
    model = candidates()["logistic regression"].fit(x, y)
    meta = {
        "profile_version": version,
        "profile_names": list(PROFILE_NAMES),
        "classes": list(CLASSES),
        "refuse_above": 0.7,
        "refuse_piano_below": 0.01,
        "warn_below": 0.3,
        "architecture": "logistic regression",
        "test": {},
    }
    write_model(to_onnx(model), meta, folder)
    return folder


def test_a_sound_check_for_another_profile_version_is_refused(isolated_outputs):
    from pianocoach_export.sound_check_export import trained_sound_check

    with pytest.raises(PianoCoachError, match="make sound-check"):
        trained_sound_check(isolated_outputs / "nothing")
    folder = trained(isolated_outputs / "old", version=PROFILE_VERSION - 1)
    with pytest.raises(PianoCoachError, match="version"):
        trained_sound_check(folder)
    assert trained_sound_check(trained(isolated_outputs / "new")).metrics["refuse_above"] == 0.7


def test_adding_it_to_the_default_bundle_keeps_every_other_model(isolated_outputs, tmp_path, monkeypatch):
    from pianocoach_export.signing import generate_key_pair
    from pianocoach_export.sound_check_export import add_to_default_bundle

    copy = shutil.copytree(pianocoach.bundle.DEFAULT_BUNDLE, tmp_path / "bundle")
    monkeypatch.setattr(pianocoach.bundle, "DEFAULT_BUNDLE", copy)
    before = Manifest.read(copy)
    trained(isolated_outputs / "artifacts" / "sound_check")
    key_path, public = generate_key_pair("test", tmp_path / "keys")
    add_to_default_bundle(key_path)  # verified with the packaged keys before, with them and the signer's after
    after = Manifest.read(copy)
    assert verify_bundle(copy, trusted_keys([public])).ok
    assert not verify_bundle(copy, trusted_keys()).ok  # signed anew: by the test key, not the development key
    roles = {m.role: m for m in after.models}
    assert roles["sound_check"].metrics["refuse_above"] == 0.7
    for model in before.models:
        if model.role != "sound_check":
            assert after.files[model.file].sha256 == before.files[model.file].sha256
    assert after.audio_path == before.audio_path
    assert json.loads((copy / "manifest.json").read_text())["bundle_id"] != before.bundle_id


def test_a_model_that_gives_no_probabilities_never_refuses_a_take(tmp_path):
    """A sound check whose ONNX graph gives NaN: the take is scored unchecked, not refused."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from pianocoach.features.sound_profile import SoundProfile
    from pianocoach.scoring.sound_check import SoundCheck, judge
    from pianocoach_train.models.onnx_graphs import OPSET

    weights = numpy_helper.from_array(np.full((len(PROFILE_NAMES), 3), np.nan, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["profile", "w"], ["probabilities"])],
        "nan",
        [helper.make_tensor_value_info("profile", TensorProto.FLOAT, ["batch", len(PROFILE_NAMES)])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    metrics = {
        "profile_version": PROFILE_VERSION,
        "profile_names": list(PROFILE_NAMES),
        "classes": list(CLASSES),
        "refuse_above": 0.6,
        "refuse_piano_below": 0.01,
        "warn_below": 0.3,
    }
    check = SoundCheck(session, metrics, tmp_path)
    profile = SoundProfile()
    t = np.arange(5 * 22050) / 22050
    profile.feed((0.1 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * (t % 0.5))).astype(np.float32))
    verdict = judge(profile, None, check, "take.wav")  # no NotAPianoError
    assert verdict.piano_probability is None


def test_measure_puts_each_sound_check_through_the_same_clips_by_the_devices_rule(tmp_path):
    from pianocoach.bundle import DEFAULT_BUNDLE
    from pianocoach_train.sound_check_model import Clips, loaded_check, measure_checks

    x, y = separable(seed=3, n=90)
    x[:, PROFILE_NAMES.index("flatness_mean")] = 0.01  # not noisy
    kinds = {PIANO: ("piano", "piano"), STRUCK: ("instrument", "guitar"), HELD: ("speech", "en")}
    specs = [ClipSpec(*kinds[int(c)], f"take{i}", program=25 if c == STRUCK else 0) for i, c in enumerate(y)]
    loudness = np.full(len(y), -30.0)
    loudness[:5] = -60.0  # five very quiet clips: warned, never refused
    clips = Clips([], specs, np.zeros((0, 0)), x, loudness)
    folder = trained(tmp_path / "check")
    found = measure_checks([folder, DEFAULT_BUNDLE], clips)
    assert found["test_clips"] == 90 and list(found["checks"]) == [str(folder), str(DEFAULT_BUNDLE)]
    check = loaded_check(folder)
    p = np.stack([check.probabilities(row) for row in x])
    outcome = verdicts(p, 0.7, 0.01, 0.3, clips.level_warned)
    assert clips.level_warned[:5].all() and not clips.level_warned[5:].any()
    piano, held = y == PIANO, y == HELD
    figures = found["checks"][str(folder)]
    assert figures["piano_refused"] == round(float(np.mean(outcome[piano] == "refused")), 4)
    assert figures["held_speech_noise_refused"] == round(float(np.mean(outcome[held] == "refused")), 4)
    assert figures["held_speech_noise_refused"] > 0.5  # the planted held-sound number is found
    assert found["checks"][str(folder)] != found["checks"][str(DEFAULT_BUNDLE)]  # another model, other verdicts
    with pytest.raises(SystemExit, match="neither a bundle"):
        loaded_check(tmp_path)
