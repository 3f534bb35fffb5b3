"""The velocity model (make velocity-model): it learns from what the device hears in a render, and the graph a bundle
carries gives the device the model's velocities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from midi_helpers import write_midi

import pianocoach.bundle
from pianocoach.errors import BundleError
from pianocoach.features import feature_vector
from pianocoach.features.audio import resample
from pianocoach.features.note_velocity import FEATURE_NAMES, NOTE_VELOCITY_VERSION
from pianocoach.scoring import BundleScorer
from pianocoach.scoring.notes_stream import AudioNoteStream
from pianocoach.scoring.velocity_model import VelocityModel
from pianocoach_train.audio.heard_pedal import heard_vectors
from pianocoach_train.audio.heard_velocity import velocity_source
from pianocoach_train.audio.renders import CAPTURE_RATE, RenderJob, load_render, render_audio, render_soundfont
from pianocoach_train.audio.soundfonts import soundfont
from pianocoach_train.audio.synth import Synth
from pianocoach_train.velocity_model import NO_SPREAD, fit, matched_take, onnx_velocities, to_onnx


def _session(model_bytes: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


class _Recorder:
    """A stand-in velocity model that keeps the features the device computed (and answers 64)."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def velocities(self, features: np.ndarray) -> np.ndarray:
        self.seen.append(features)
        return np.full(len(features), 64)


def test_training_examples_are_what_the_device_hears(isolated_outputs, tmp_path, monkeypatch):
    import pianocoach_train.audio.renders as renders

    monkeypatch.setattr(renders, "_SYNTHS", {})  # a fresh synthesiser (one that rendered before sounds different)
    notes = [(0.3 * i, 0.3 * i + 0.25, 55 + (i * 7) % 20, 30 + (i * 23) % 90) for i in range(30)]
    path = write_midi(tmp_path / "dynamics.mid", notes)
    job = RenderJob("dynamics", str(path), "musescore_general", 0, transcribe=True)
    render_soundfont(job.soundfont, {job.ident: Path(job.midi_path)}, transcribe=True, workers=1)
    take = matched_take((job.soundfont, job.ident, job.midi_path, 0))
    assert len(take.played) > 20  # most of the 30 notes heard at their onsets
    assert set(take.played.astype(int)) <= {v for *_, v in notes}  # the labels are the velocities played
    # the device: the same audio through the microphone path's note stream, its features as the model would read them
    audio, _ = render_audio(job, Synth(str(soundfont(job.soundfont).path), CAPTURE_RATE))
    recorder = _Recorder()
    stream = AudioNoteStream("take", velocity=recorder)
    table = stream.final(resample(audio, CAPTURE_RATE))
    assert table is not None and stream.heard_velocities(table) is not None
    device = recorder.seen[-1]
    rows = [int(np.flatnonzero(np.all(device == row, axis=1))[0]) for row in take.features]  # every example is one
    assert len(set(rows)) == len(rows)
    # the transcription path's vectors with the heard velocities are the device's for the same audio
    source = velocity_source()
    assert source.path.is_relative_to(pianocoach.bundle.DEFAULT_BUNDLE)  # no trained one here: the bundle's
    learned = heard_vectors(job.soundfont, [job.ident], None, source, progress=False, workers=1)[job.ident]
    stream = AudioNoteStream("take", velocity=BundleScorer().velocity_model)
    heard = stream.heard_velocities(stream.final(resample(audio, CAPTURE_RATE)))
    assert heard is not None
    np.testing.assert_allclose(learned, feature_vector(heard), rtol=1e-5, atol=1e-5)
    assert not np.allclose(load_render(job.soundfont, job.ident)["transcription"], learned)  # the velocities count


def test_the_bundle_graph_gives_the_device_the_models_velocities():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 10, (3000, len(FEATURE_NAMES))).astype(np.float32)
    y = np.clip(64 + 2.5 * x[:, 4] - 1.5 * x[:, 2], 1, 127)  # a velocity the features determine
    model = fit(x, y, trees=60)
    graph = to_onnx(model)
    device = onnx_velocities(graph, x[:500])
    np.testing.assert_array_equal(device, np.clip(np.round(model.predict(x[:500])), 1, 127))
    assert np.abs(device - y[:500]).mean() < 5  # it learned the rule, not a constant
    assert set(np.unique(device)) <= set(range(1, 128))


def test_a_velocity_model_for_other_features_or_with_a_wild_spread_is_refused_by_name():
    graph = to_onnx(fit(np.zeros((50, len(FEATURE_NAMES)), np.float32) + np.arange(50)[:, None], np.arange(50) + 10.0))
    where = Path("/bundles/b1")
    good = {"features_version": NOTE_VELOCITY_VERSION, "features": list(FEATURE_NAMES), "spread": NO_SPREAD}
    for metrics, words in (
        ({**good, "features_version": NOTE_VELOCITY_VERSION + 1}, "velocity model learned note features version"),
        ({"spread": NO_SPREAD}, "velocity model learned note features version"),
        ({**good, "features": list(FEATURE_NAMES)[::-1]}, "reads other note features than this device's version"),
    ):
        with pytest.raises(BundleError, match=f"b1.*{words}"):
            VelocityModel(_session(graph), metrics, where)
    for spread, words in (
        (None, "states no spread"),
        ({"centre": 64, "scale": float("nan")}, "is not two numbers"),
        ({"centre": 64, "scale": True}, "is not two numbers"),
        ({"centre": 64, "scale": 40}, "out of bounds"),
        ({"centre": 300, "scale": 1.2}, "out of bounds"),
    ):
        with pytest.raises(BundleError, match=f"b1.*{words}"):
            VelocityModel(_session(graph), {**good, "spread": spread}, where)
    model = VelocityModel(_session(graph), good, where)
    assert model.velocities(np.zeros((0, len(FEATURE_NAMES)), np.float32)).shape == (0,)
    # the spread widens the raw velocities around its centre, within 1..127
    x = (np.zeros((50, len(FEATURE_NAMES))) + np.arange(50)[:, None]).astype(np.float32)
    raw = _session(graph).run(None, {"note_features": x})[0].reshape(-1).astype(np.float64)
    np.testing.assert_array_equal(model.velocities(x), np.clip(np.round(raw), 1, 127))
    wide = VelocityModel(_session(graph), {**good, "spread": {"centre": 30.0, "scale": 2.0}}, where).velocities(x)
    np.testing.assert_array_equal(wide, np.clip(np.round(30 + 2 * (raw - 30)), 1, 127))


def _learned(manifest) -> dict:
    from pianocoach.features.note_velocity import NOTE_VELOCITY_VERSION

    entry = manifest.model("velocity")
    return {
        "velocity_sha256": manifest.files[entry.file].sha256,
        "features_version": NOTE_VELOCITY_VERSION,
        "spread": entry.metrics["spread"],
    }


def test_a_bundle_pairs_the_transcription_scorer_with_the_velocity_model_it_learned_from(tmp_path, monkeypatch):
    from bundle_helpers import bundle_with_scorer_metrics

    from pianocoach.bundle import Manifest, verify_bundle
    from pianocoach.errors import BundleRejected
    from pianocoach_export.bundle_assembly import pairing_problem, write_verified

    manifest = Manifest.read(pianocoach.bundle.DEFAULT_BUNDLE)
    metrics = {k: v for k, v in manifest.model("transcription_scorer").metrics.items() if k != "heard_velocity"}
    learned = _learned(manifest)
    paired, _ = bundle_with_scorer_metrics(tmp_path, monkeypatch, {**metrics, "heard_velocity": learned})
    assert BundleScorer(paired).transcription_hears_velocity
    unpaired, _ = bundle_with_scorer_metrics(tmp_path, monkeypatch, metrics)
    assert not BundleScorer(unpaired).transcription_hears_velocity
    for heard, drop, words in (
        (
            {**learned, "velocity_sha256": "0" * 64},
            (),
            "learned from the velocity heard by velocity model 000000000000",
        ),
        (learned, ("velocity",), "carries no velocity model"),
        ({"sha": 1}, (), "does not name a velocity_sha256"),
        ({**learned, "features_version": learned["features_version"] + 1}, (), "note features version"),
        ({**learned, "spread": {"centre": 30.0, "scale": 1.0}}, (), "learned velocities spread as"),
    ):
        folder, models = bundle_with_scorer_metrics(tmp_path, monkeypatch, {**metrics, "heard_velocity": heard}, drop)
        check = verify_bundle(folder)  # the install's verification refuses it, before any model is opened
        assert not check.ok and any(words in p for p in check.problems), check.problems
        with pytest.raises(BundleError, match=words):
            BundleScorer(folder)
        if "version" not in words and "name" not in words:  # the exporter refuses to write it in the first place
            assert "velocity model" in pairing_problem(models)
            with pytest.raises(BundleRejected, match="make bundle-transcription"):
                write_verified(models, None, tmp_path / "never", None, "test-never")
            assert not (tmp_path / "never").exists()


UNHEARD = "the key velocities could not be heard"


def test_a_microphone_take_is_scored_with_the_velocities_its_scorer_learned_from(performance, tmp_path, monkeypatch):
    from bundle_helpers import bundle_with_scorer_metrics

    from pianocoach.bundle import Manifest
    from pianocoach.inputs import AudioFileSource, MidiFileSource
    from pianocoach.scoring import score_source

    manifest = Manifest.read(pianocoach.bundle.DEFAULT_BUNDLE)
    metrics = {k: v for k, v in manifest.model("transcription_scorer").metrics.items() if k != "heard_velocity"}
    paired, _ = bundle_with_scorer_metrics(tmp_path, monkeypatch, {**metrics, "heard_velocity": _learned(manifest)})
    unpaired, _ = bundle_with_scorer_metrics(tmp_path, monkeypatch, metrics)

    def score(scorer, path=performance["wav"]):
        return score_source(AudioFileSource(path, block_seconds=2.0), scorer)

    scorer = BundleScorer(paired)
    heard = score(scorer)
    assert not any(UNHEARD in w for w in heard.warnings), heard.warnings
    basic_pitch = score(BundleScorer(unpaired))  # the same scorer told it learned from basic-pitch's velocities
    assert heard.scale_values != basic_pitch.scale_values  # the heard velocities reached the scorer
    assert heard.measures == basic_pitch.measures  # what is shown does not depend on the scorer
    scorer.velocity_model = None  # as when the velocity model fails on a take: basic-pitch's, and said so
    unheard = score(scorer)
    assert any(UNHEARD in w for w in unheard.warnings) and unheard.scale_values == basic_pitch.scale_values
    assert unheard.measures["velocity_range"]["value"] is None  # and its velocity range is unknown
    midi = score_source(MidiFileSource(performance["midi"]), scorer)
    assert not any(UNHEARD in w for w in midi.warnings)  # a MIDI take's velocities are read, not heard


def _nan_velocity_model():
    """A velocity graph the device accepts by its metrics that gives NaN for every note (as a broken model would)."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("note_features", TensorProto.FLOAT, [None, len(FEATURE_NAMES)])
    y = helper.make_tensor_value_info("velocity", TensorProto.FLOAT, [None])
    nan = helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")])
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["note_features"], ["sum"], keepdims=0, axes=[1]),
            helper.make_node("Mul", ["sum", "nan"], ["velocity"]),
        ],
        "nan_velocity",
        [x],
        [y],
        [nan],
    )
    # opset 11: ReduceSum takes its axes as an attribute; IR version 7: what ONNX Runtime reads (onnx writes newer)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=7)
    data = model.SerializeToString()
    onnx.checker.check_model(model)
    metrics = {"features_version": NOTE_VELOCITY_VERSION, "features": list(FEATURE_NAMES), "spread": NO_SPREAD}
    return data, VelocityModel(_session(data), metrics, Path("nan.onnx"))


def test_a_velocity_model_that_fails_leaves_the_velocities_unknown_and_says_why(performance, tmp_path):
    import soundfile as sf

    from pianocoach.inputs import AudioFileSource
    from pianocoach.scoring import score_source
    from pianocoach.scoring.health import check_velocity_model, synthesize

    _, broken = _nan_velocity_model()
    scorer = BundleScorer()
    scorer.velocity_model = broken
    result = score_source(AudioFileSource(performance["wav"], block_seconds=2.0), scorer)
    assert any(UNHEARD in w for w in result.warnings), result.warnings  # scored with basic-pitch's, and said so
    assert result.measures["velocity_range"]["value"] is None
    assert "velocity model failed on this take" in result.measures["velocity_range"]["unknown"]
    # the install's health check finds it before it is switched to
    wav = synthesize(performance["midi"], tmp_path / "clip.wav")
    assert sf.info(str(wav)).samplerate == 22050
    _, problems = check_velocity_model(scorer, wav)
    assert problems and problems[0].startswith("velocity: the velocity model gave")
    _, healthy = check_velocity_model(BundleScorer(), wav)
    assert healthy == []


def test_the_exporter_refuses_a_velocity_model_the_device_would_refuse(isolated_outputs):
    from pianocoach_export.velocity_export import VelocityModelRefused, trained_velocity_model
    from pianocoach_train.runs import write_model_run

    folder = isolated_outputs / "artifacts" / "velocity"
    graph = to_onnx(fit(np.zeros((50, len(FEATURE_NAMES)), np.float32) + np.arange(50)[:, None], np.arange(50) + 10.0))
    good = {"features_version": NOTE_VELOCITY_VERSION, "features": list(FEATURE_NAMES), "spread": NO_SPREAD}
    write_model_run(folder, "velocity.onnx", graph, {**good, "spread": {"centre": 64, "scale": 40}})
    with pytest.raises(VelocityModelRefused, match="out of bounds"):
        trained_velocity_model()
    write_model_run(folder, "velocity.onnx", _nan_velocity_model()[0], good)
    with pytest.raises(VelocityModelRefused, match="not a number for each note"):
        trained_velocity_model()
    write_model_run(folder, "velocity.onnx", graph, good)
    assert trained_velocity_model().metrics["spread"] == NO_SPREAD
