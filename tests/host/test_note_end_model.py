"""The note-end model (make note-end-model): its examples are what the device hears in a render, labelled with how
long each note sounded; the graph gives the host model's answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from midi_helpers import write_midi

from pianocoach.features.note_ends import FEATURE_NAMES, sounding_ends
from pianocoach_train.audio.renders import RenderJob, render_soundfont
from pianocoach_train.note_end_model import DEFAULT_PEDAL, fit, offset_f1, onnx_log_ratios, take, to_onnx


def test_examples_are_labelled_with_the_sounding_length_and_the_model_graph_agrees(
    isolated_outputs, tmp_path, monkeypatch
):
    import pianocoach_train.audio.renders as renders

    monkeypatch.setattr(renders, "_SYNTHS", {})  # a fresh synthesiser (one that rendered before sounds different)
    # twelve short notes half a second apart; the pedal holds the first six until 3 s
    notes = [(0.5 * i + 0.2, 0.5 * i + 0.4, 60 + (i * 5) % 12, 80) for i in range(12)]
    path = write_midi(tmp_path / "pedalled.mid", notes, pedal=[(0.0, 127), (3.0, 0)])
    job = RenderJob("pedalled", str(path), "musescore_general", 0, transcribe=True)
    render_soundfont(job.soundfont, {job.ident: Path(job.midi_path)}, transcribe=True, workers=1)
    example = take((job.soundfont, job.ident, job.midi_path, 0, str(DEFAULT_PEDAL)))
    assert example is not None and example.features.shape == (len(example.heard), len(FEATURE_NAMES))
    assert len(example.matched) >= 9  # most of the twelve heard at their onsets
    onsets = example.heard.onset[example.matched]
    held, free = example.label[onsets < 2.8], example.label[onsets > 3.1]
    # held by the pedal: sounding to 3 s, longer than heard; the free ones sound 0.2 s, heard longer than that
    assert len(held) >= 4 and len(free) >= 4
    assert np.mean(held) > 0 > np.mean(free)
    # the played pedal's ends against the heard ones: the F1 is what mir_eval says of the ends given
    assert offset_f1(example.played, example.heard, example.played_pedal_ends) > offset_f1(
        example.played, example.heard, example.heard.offset
    )
    model = fit(example.features[example.matched], example.label)
    graph = onnx_log_ratios(to_onnx(model), example.features)
    assert graph == pytest.approx(model.predict(example.features), abs=1e-4)
    assert np.all(sounding_ends(example.heard, graph) > example.heard.onset)


def _graph(rows: int = 200) -> bytes:
    """A small note-end graph: the log ratio grows with the pedal at the heard end (a rule the features determine)."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (rows, len(FEATURE_NAMES))).astype(np.float32)
    return to_onnx(fit(x, 0.8 * x[:, FEATURE_NAMES.index("pedal_at_end")]))


def _session(model_bytes: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def _good_metrics() -> dict:
    from pianocoach.features.note_ends import NOTE_END_VERSION

    return {"features_version": NOTE_END_VERSION, "features": list(FEATURE_NAMES), "pedal_sha256": "0" * 64}


def test_a_note_end_model_for_other_features_is_refused_by_name_and_its_ends_are_the_graphs():
    from pianocoach.errors import BundleError
    from pianocoach.features import NoteTable
    from pianocoach.features.note_ends import note_end_features
    from pianocoach.features.sound_profile import MEL_BANDS
    from pianocoach.scoring.note_end_model import NoteEndModel, NoteEndModelError

    graph, good, where = _graph(), _good_metrics(), Path("/bundles/b1")
    for metrics in (
        {**good, "features_version": good["features_version"] + 1},
        {**good, "features": list(FEATURE_NAMES)[::-1]},
        {"pedal_sha256": "0" * 64},
    ):
        with pytest.raises(BundleError, match="b1.*note-end model learned note-end features version"):
            NoteEndModel(_session(graph), metrics, where)
    # the graph is checked as well as what it says it learned: one float input of this device's width
    from pianocoach.features.note_velocity import FEATURE_NAMES as VELOCITY_FEATURES
    from pianocoach.features.note_velocity import NOTE_VELOCITY_VERSION
    from pianocoach.scoring.velocity_model import VelocityModel
    from pianocoach_train.velocity_model import NO_SPREAD
    from pianocoach_train.velocity_model import fit as fit_velocity
    from pianocoach_train.velocity_model import to_onnx as velocity_onnx

    width = len(VELOCITY_FEATURES)
    velocity_graph = velocity_onnx(
        fit_velocity(np.zeros((50, width), np.float32) + np.arange(50)[:, None], np.arange(50) + 10.0)
    )
    with pytest.raises(
        BundleError, match=rf"b1.*note-end model reads \[.*{width}\], not \[notes, {len(FEATURE_NAMES)}\]"
    ):
        NoteEndModel(_session(velocity_graph), good, where)
    velocity_metrics = {
        "features_version": NOTE_VELOCITY_VERSION,
        "features": list(VELOCITY_FEATURES),
        "spread": NO_SPREAD,
    }
    with pytest.raises(
        BundleError, match=rf"b1.*velocity model reads \[.*{len(FEATURE_NAMES)}\], not \[notes, {width}\]"
    ):
        VelocityModel(_session(graph), velocity_metrics, where)
    model = NoteEndModel(_session(graph), good, where)
    onsets = np.arange(10) * 0.3 + 0.1
    table = NoteTable.from_arrays(onsets, onsets + 0.2, 60 + np.arange(10), np.full(10, 70))
    rng = np.random.default_rng(1)
    pedal, bands = rng.uniform(0, 1, 100), rng.normal(-40, 5, (MEL_BANDS, 100)).astype(np.float32)
    expected = sounding_ends(table, onnx_log_ratios(graph, note_end_features(table, pedal, bands)))
    assert model.ends(table, pedal, bands) == pytest.approx(expected)
    with pytest.raises(NoteEndModelError, match="no frames"):
        model.ends(table, pedal[:0], bands)


def test_a_bundle_pairs_the_note_end_model_with_the_pedal_model_it_learned_with(tmp_path, monkeypatch):
    from bundle_helpers import bundle_with_model_metrics

    import pianocoach.bundle
    from pianocoach.bundle import Manifest, verify_bundle
    from pianocoach.errors import BundleError, BundleRejected
    from pianocoach.scoring import BundleScorer
    from pianocoach_export.bundle_assembly import pairing_problem, write_verified

    manifest = Manifest.read(pianocoach.bundle.DEFAULT_BUNDLE)
    metrics = manifest.model("note_end").metrics
    assert metrics["pedal_sha256"] == manifest.files[manifest.model("pedal").file].sha256
    assert manifest.note_end_problem() is None and BundleScorer().note_end_model is not None
    unnamed = {k: v for k, v in metrics.items() if k != "pedal_sha256"}
    other = "note-end model learned with pedal model"
    for changed, drop, words, exporter in (
        ({**metrics, "pedal_sha256": "0" * 64}, (), "learned with the pedal heard by pedal model 000000000000", other),
        (metrics, ("pedal",), "the bundle carries no pedal model", other),
        (unnamed, (), "does not name the pedal model", "does not name the pedal model"),
        (unnamed, ("pedal",), "does not name the pedal model", "does not name the pedal model"),
    ):
        folder, models = bundle_with_model_metrics(tmp_path, monkeypatch, "note_end", changed, drop)
        check = verify_bundle(folder)  # the install's verification refuses it, before any model is opened
        assert not check.ok and any(words in p for p in check.problems), check.problems
        with pytest.raises(BundleError, match=words):
            BundleScorer(folder)
        assert exporter in pairing_problem(models)  # the exporter would not write it
        with pytest.raises(BundleRejected, match="make note-end-model"):
            write_verified(models, None, tmp_path / "never", None, "test-never")
        assert not (tmp_path / "never").exists()


def _nan_note_end_graph() -> bytes:
    """A note-end graph the device accepts by its metrics that gives NaN for every note (as a broken model would)."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("note_end_features", TensorProto.FLOAT, [None, len(FEATURE_NAMES)])
    y = helper.make_tensor_value_info("log_ratio", TensorProto.FLOAT, [None])
    nan = helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")])
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["note_end_features"], ["sum"], keepdims=0, axes=[1]),
            helper.make_node("Mul", ["sum", "nan"], ["log_ratio"]),
        ],
        "nan_note_end",
        [x],
        [y],
        [nan],
    )
    # opset 11: ReduceSum takes its axes as an attribute; IR version 7: what ONNX Runtime reads (onnx writes newer)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=7)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_a_note_end_model_that_fails_keeps_the_heard_ends_and_says_so(performance, tmp_path):
    from pianocoach.scoring import BundleScorer
    from pianocoach.scoring.health import check_note_end_model, synthesize
    from pianocoach.scoring.heard import HearingModels, transcribe_file, transcribe_to_midi
    from pianocoach.scoring.note_end_model import NoteEndModel

    scorer = BundleScorer()
    broken = NoteEndModel(_session(_nan_note_end_graph()), _good_metrics(), Path("nan.onnx"))
    plain = transcribe_file(performance["wav"], models=HearingModels(pedal=scorer.pedal_model))
    failed = transcribe_file(performance["wav"], models=HearingModels(pedal=scorer.pedal_model, note_end=broken))
    assert not failed.ends_heard and np.array_equal(failed.table.offset, plain.table.offset)
    summary = transcribe_to_midi(performance["wav"], None, models=HearingModels(scorer.pedal_model, None, broken))
    assert summary.note_end_model_failed and "(the note-end model failed)" in summary.summary()
    # without the pedal the model reads, it is not run at all: the ends are the transcriber's
    unpedalled = transcribe_file(performance["wav"], models=HearingModels(note_end=scorer.note_end_model))
    assert not unpedalled.ends_heard and np.array_equal(unpedalled.table.offset, plain.table.offset)
    said = transcribe_to_midi(performance["wav"], None, models=HearingModels(note_end=scorer.note_end_model))
    assert said.note_end_without_pedal and not said.note_end_model_failed
    assert "(no pedal heard for the note-end model to read)" in said.summary()
    # the install's health check finds a broken model before it is switched to
    wav = synthesize(performance["midi"], tmp_path / "clip.wav")
    scorer.note_end_model = broken
    _, problems = check_note_end_model(scorer, wav)
    assert problems and problems[0].startswith("note_end: the note-end model gave")
    _, healthy = check_note_end_model(BundleScorer(), wav)
    assert healthy == []


def test_the_exporter_refuses_a_note_end_model_the_device_would_refuse(isolated_outputs):
    from pianocoach_export.note_end_export import NoteEndModelMissing, NoteEndModelRefused, trained_note_end_model
    from pianocoach_train.runs import write_model_run

    folder = isolated_outputs / "artifacts" / "note_end"
    with pytest.raises(NoteEndModelMissing, match="make note-end-model"):
        trained_note_end_model()
    write_model_run(folder, "note_end.onnx", _nan_note_end_graph(), _good_metrics())
    with pytest.raises(NoteEndModelRefused, match="not a number for each note"):
        trained_note_end_model()
    write_model_run(folder, "note_end.onnx", _graph(), {**_good_metrics(), "features_version": 1})
    with pytest.raises(NoteEndModelMissing, match="version 1"):
        trained_note_end_model()
    write_model_run(folder, "note_end.onnx", _graph(), _good_metrics())
    assert trained_note_end_model().metrics["pedal_sha256"] == "0" * 64


def test_the_transcription_paths_heard_ends_are_the_devices(isolated_outputs, tmp_path, monkeypatch):
    """The vectors the transcription path would learn from with the heard ends (and velocities) are what the device's
    microphone path computes for the same audio."""
    import pianocoach.bundle
    import pianocoach_train.audio.renders as renders
    from pianocoach.features import feature_vector
    from pianocoach.features.audio import resample
    from pianocoach.scoring import BundleScorer
    from pianocoach.scoring.notes_stream import AudioNoteStream
    from pianocoach_train.audio.heard_note_end import note_end_source
    from pianocoach_train.audio.heard_pedal import heard_vectors
    from pianocoach_train.audio.heard_velocity import velocity_source
    from pianocoach_train.audio.renders import CAPTURE_RATE, load_render, render_audio
    from pianocoach_train.audio.soundfonts import soundfont
    from pianocoach_train.audio.synth import Synth

    monkeypatch.setattr(renders, "_SYNTHS", {})  # a fresh synthesiser (one that rendered before sounds different)
    notes = [(0.4 * i + 0.2, 0.4 * i + 0.3 + 0.3 * (i % 3), 55 + (i * 7) % 20, 40 + (i * 23) % 80) for i in range(24)]
    path = write_midi(tmp_path / "ends.mid", notes, pedal=[(0.0, 127), (4.0, 0), (6.0, 127), (9.0, 0)])
    job = RenderJob("ends", str(path), "musescore_general", 0, transcribe=True)
    render_soundfont(job.soundfont, {job.ident: Path(job.midi_path)}, transcribe=True, workers=1)
    velocity, note_end = velocity_source(), note_end_source()
    assert note_end.path.is_relative_to(pianocoach.bundle.DEFAULT_BUNDLE)  # no trained one here: the bundle's
    learned = heard_vectors(job.soundfont, [job.ident], None, velocity, note_end, progress=False, workers=1)
    without = heard_vectors(job.soundfont, [job.ident], None, velocity, progress=False, workers=1)
    # the device: the same audio through the microphone path's note stream, with the bundle's models
    audio, _ = render_audio(job, Synth(str(soundfont(job.soundfont).path), CAPTURE_RATE))
    scorer = BundleScorer()
    stream = AudioNoteStream(
        "take", pedal=scorer.pedal_model, velocity=scorer.velocity_model, note_end=scorer.note_end_model
    )
    table = stream.final(resample(audio, CAPTURE_RATE))
    ended, heard = stream.heard_ends(table), stream.heard_velocities(table)
    assert ended is not None and heard is not None
    device = feature_vector(table.with_columns(offset=ended.offset, velocity=heard.velocity))
    np.testing.assert_allclose(learned[job.ident], device, rtol=1e-4, atol=1e-4)
    assert not np.allclose(without[job.ident], learned[job.ident])  # the ends count
    assert "heard_notes" in load_render(job.soundfont, job.ident)


def test_each_take_gets_the_cross_fitted_model_that_never_heard_its_performance(isolated_outputs):
    import hashlib
    import json

    from pianocoach_train.audio.heard_note_end import crossfit_source
    from pianocoach_train.audio.model_source import NotHeardError
    from pianocoach_train.note_end_crossfit import FOLDS, crossfit_dir, fold_of

    with pytest.raises(NotHeardError, match="make note-end-crossfit"):
        crossfit_source()
    folder = crossfit_dir()
    folder.mkdir(parents=True)
    models = {}
    for fold in range(FOLDS):
        graph = _graph(rows=100 + fold)
        (folder / f"fold_{fold}.onnx").write_bytes(graph)
        models[str(fold)] = {"file": f"fold_{fold}.onnx", "sha256": hashlib.sha256(graph).hexdigest()}
    meta = {**_good_metrics(), "folds": FOLDS, "models": models}
    (folder / "folds.json").write_text(json.dumps(meta))
    source = crossfit_source()
    performers, works = range(1, 13), ("Schubert_D960_mv3", "Beethoven_WoO80_var27")
    ids = [f"{work}_8bars_{p}_{segment}" for work in works for p in performers for segment in (1, 2, 3)]
    assert {fold_of(i) for i in ids} == set(range(FOLDS))  # every group has takes
    for work in works:  # every segment of one player's rendition of a work in one group
        assert all(len({fold_of(f"{work}_8bars_{p}_{segment}") for segment in (1, 2, 3)}) == 1 for p in performers)
    for ident in ids:
        model = source.for_take(ident)
        assert (
            model.path == folder / f"fold_{fold_of(ident)}.onnx"
            and model.sha256 == models[str(fold_of(ident))]["sha256"]
        )
        assert model.metrics["pedal_sha256"] == "0" * 64
    identity = source.run_identity()
    (folder / "folds.json").write_text(json.dumps({**meta, "folds": FOLDS}, indent=1))  # another run of the folds
    assert crossfit_source().run_identity() != identity  # runs on the old folds' ends are trained again
