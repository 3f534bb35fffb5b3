"""The committed default bundle (what `make demo` and a fresh device use) passes verification with the
keys packaged with the device, scores a performance, and a copy with one changed byte is refused."""

import shutil
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from midi_helpers import steady_scale, write_midi

from pianocoach.bundle import DEFAULT_BUNDLE, Manifest, verify_bundle
from pianocoach.features import DEFAULT_SETTINGS, feature_vector, read_midi


@pytest.mark.slow
def test_the_default_bundle_verifies_with_the_packaged_development_key():
    result = verify_bundle(DEFAULT_BUNDLE)
    assert result.ok, result.problems
    assert result.manifest.feature_settings_sha256 == DEFAULT_SETTINGS.sha256()
    size = sum(p.stat().st_size for p in DEFAULT_BUNDLE.rglob("*") if p.is_file())
    # MIDI scorer (5.95 MB since feature version 4: its trees also learn free play), transcription scorer (4.3 MB;
    # 7.0 MB and 29 MB more in memory when it learns from four pianos: not shipped), audio scorer, jianzipu reader
    assert size < 12_000_000


def test_the_default_bundle_says_what_it_was_trained_on():
    model = Manifest.read(DEFAULT_BUNDLE).model("midi_scorer")
    assert len(model.labels) == 19 and model.outputs[0].shape[-1] == 19
    assert model.provenance["split"] == "performer" and len(model.provenance["excluded_ids"]) == 193
    assert model.metrics["float"]["r2"] > 0.4  # measured at export on the performer test list


def test_the_default_bundle_scores_microphone_input_with_an_audio_model_as_measured():
    from pianocoach.scoring import BundleScorer

    manifest = Manifest.read(DEFAULT_BUNDLE)
    audio, notes = manifest.model("audio_scorer"), manifest.model("transcription_scorer")
    assert audio is not None and {t.name for t in audio.inputs} <= {"mel", "contour", "rhythm"}
    assert audio.provenance["test_soundfont"] not in audio.provenance["train_soundfonts"]
    # the mode is the better of "audio model alone" and "fusion" in reports/audio/audio_eval.json
    assert manifest.audio_path["mode"] in ("audio_model", "fusion")
    assert set(manifest.audio_path["measured"]) >= {"audio_model", "fusion", "transcription"}
    if manifest.audio_path["mode"] == "fusion":
        assert notes is not None and audio.provenance["test_soundfont"] not in notes.provenance[
            "train_soundfont"
        ].split(",")
    scorer = BundleScorer()
    assert scorer.audio_path.uses_audio_model and not scorer.audio_is_provisional()


def test_the_default_scorer_scores_a_generated_performance(tmp_path):
    model = Manifest.read(DEFAULT_BUNDLE).model("midi_scorer")
    session = ort.InferenceSession(str(DEFAULT_BUNDLE / model.file), providers=["CPUExecutionProvider"])
    vector = feature_vector(read_midi(write_midi(tmp_path / "scale.mid", steady_scale())))[None]
    scores = session.run(None, {model.inputs[0].name: vector})[0]
    assert scores.shape == (1, 19) and np.isfinite(scores).all()
    assert (scores > 0).all() and (scores < 1).all()  # PercePiano ratings are scaled to 0..1


def test_the_cli_refuses_a_copy_with_one_changed_byte(tmp_path):
    copy = shutil.copytree(DEFAULT_BUNDLE, tmp_path / "bundle")
    model = copy / "models" / "midi_scorer.onnx"
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))
    run = subprocess.run(
        [sys.executable, "-m", "pianocoach.cli", "verify-bundle", str(copy)], capture_output=True, text=True
    )
    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        f"{copy}: models/midi_scorer.onnx: sha256 differs from the manifest (changed or corrupted)"
    ]
    assert "REFUSED (1 problem)" in run.stderr


def test_a_scorer_trained_before_the_score_relative_descriptors_reads_the_columns_it_knows(tmp_path):
    """The vector only grows at its end (feature version 4 appended the score-relative descriptors): a kept model of
    fewer inputs is fed the leading columns, a model of the full width the whole vector."""
    from pianocoach.scoring import BundleScorer
    from pianocoach.scoring.bundle_scorer import MIDI_SCORER, TRANSCRIPTION_SCORER

    scorer = BundleScorer()
    vector = feature_vector(read_midi(write_midi(tmp_path / "scale.mid", steady_scale())))
    assert scorer.input_widths[MIDI_SCORER] == len(DEFAULT_SETTINGS.vector_names) == len(vector)
    for role, source in ((MIDI_SCORER, "midi"), (TRANSCRIPTION_SCORER, "audio")):
        width = scorer.input_widths[role]
        assert width is not None and DEFAULT_SETTINGS.vector_names[:width] == DEFAULT_SETTINGS.vector_names[:width]
        direct = scorer.sessions[role].run(None, {scorer.input_names[role][0]: vector[None, :width]})[0][0]
        assert np.array_equal(scorer.score(vector, source), direct)


def test_the_expression_mark_is_spread_as_the_listeners_marks_are():
    """A regression model's marks huddle round the mean; the bundle records how to spread them (measured at export on
    the release model's validation performances) and the device applies it, bounded."""
    from pianocoach.rating_scales import ExpressionScale
    from pianocoach.scoring import BundleScorer

    recorded = Manifest.read(DEFAULT_BUNDLE).model("midi_scorer").metrics["expression_scale"]
    scale = BundleScorer().expression_scale
    assert scale == ExpressionScale.from_metrics(recorded) and scale.listener_sd > scale.model_sd
    assert scale.apply(scale.model_mean) == round(scale.listener_mean, 1)
    step = scale.apply(scale.model_mean + scale.model_sd) - scale.apply(scale.model_mean)
    assert step == pytest.approx(scale.listener_sd, abs=0.1)
    assert scale.apply(1000.0) == 100.0 and scale.apply(-1000.0) == 0.0
    assert ExpressionScale.from_metrics(None).apply(43.21) == 43.2  # a bundle without one: the marks as they are
    for bad, why in (
        ({"model_mean": 50, "model_sd": 0, "listener_mean": 50, "listener_sd": 9}, "not a positive number"),
        ({"model_mean": 50, "model_sd": 0.1, "listener_mean": 50, "listener_sd": 9}, "more than 20 times"),
        ({"model_mean": 50, "model_sd": 2}, "lacks a number"),
        ({"model_mean": 500, "model_sd": 2, "listener_mean": 50, "listener_sd": 9}, "outside 0-100"),
        ("wide", "not a table"),
    ):
        with pytest.raises(ValueError, match=why):
            ExpressionScale.from_metrics(bad)
