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
    assert size < 10_000_000  # MIDI scorer, transcription scorer, audio scorer, jianzipu reader


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
