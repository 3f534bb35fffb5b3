"""A scorer loaded for one kind of input keeps only the models that input runs (issue 20: memory), scores exactly as
a scorer holding every model, and still verifies every model of the bundle."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import shutil

import pytest
from bundle_helpers import resign, trust
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from midi_helpers import steady_scale, write_midi

from pianocoach.appliance.config import InputConfig
from pianocoach.bundle import DEFAULT_BUNDLE, Manifest
from pianocoach.errors import BundleRejected
from pianocoach.inputs import open_file
from pianocoach.native_memory import give_back_free_memory
from pianocoach.scoring import BundleScorer, SessionSettings, score_source
from pianocoach.scoring.bundle_scorer import AUDIO_SCORER, MIDI_SCORER, TRANSCRIPTION_SCORER, roles_for


@pytest.fixture(scope="module")
def every_model():
    return BundleScorer()


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    from pianocoach.render import render_midi

    folder = tmp_path_factory.mktemp("take")
    midi = write_midi(folder / "scale.mid", steady_scale())
    return midi, render_midi(midi, folder / "scale.wav")


def test_a_midi_scorer_keeps_the_midi_scorer_alone_and_scores_as_one_with_every_model(every_model, take):
    midi_only = BundleScorer(inputs=("midi",))
    assert set(midi_only.sessions) == {MIDI_SCORER}
    assert list(midi_only.verification.sessions) == ["models/midi_scorer.onnx"]
    assert midi_only.sound_check is midi_only.pedal_model is midi_only.velocity_model is None
    assert midi_only.note_end_model is None
    found = score_source(open_file(take[0]), midi_only, SessionSettings())
    expected = score_source(open_file(take[0]), every_model, SessionSettings())
    assert found.scale_values == expected.scale_values and found.overall == expected.overall
    with pytest.raises(ValueError, match="loaded for midi input, not audio"):
        midi_only.score(found_vector(take[0]), "audio")


def found_vector(midi):
    from pianocoach.features import feature_vector, read_midi

    return feature_vector(read_midi(midi))


def test_a_microphone_scorer_leaves_the_midi_scorer_closed_and_scores_as_one_with_every_model(every_model, take):
    audio_only = BundleScorer(inputs=("audio",))
    assert MIDI_SCORER not in audio_only.sessions
    assert {TRANSCRIPTION_SCORER, AUDIO_SCORER} <= set(audio_only.sessions)
    assert "models/jianzipu_reader.onnx" not in audio_only.verification.sessions
    for model in ("sound_check", "pedal_model", "velocity_model", "note_end_model"):
        assert getattr(audio_only, model) is not None, model
    assert audio_only.audio_path == every_model.audio_path
    # the expression scale comes from the MIDI scorer's metrics, not its session
    assert audio_only.expression_scale == every_model.expression_scale
    found = score_source(open_file(take[1]), audio_only, SessionSettings())
    expected = score_source(open_file(take[1]), every_model, SessionSettings())
    assert found.scale_values == expected.scale_values and found.overall == expected.overall
    assert found.audio_path == expected.audio_path
    with pytest.raises(ValueError, match="loaded for audio input, not midi"):
        audio_only.score(found_vector(take[0]), "midi")


def test_without_a_transcription_scorer_microphone_takes_need_the_midi_scorer():
    manifest = Manifest.read(DEFAULT_BUNDLE)
    assert MIDI_SCORER not in roles_for(manifest, ("audio",))
    without = dataclasses.replace(manifest, models=tuple(m for m in manifest.models if m.role != TRANSCRIPTION_SCORER))
    assert MIDI_SCORER in roles_for(without, ("audio",))
    assert roles_for(manifest, ("midi",)) == {MIDI_SCORER}
    with pytest.raises(ValueError, match="unknown input kinds"):
        roles_for(manifest, ("video",))


def test_a_model_the_input_does_not_need_is_verified_all_the_same(tmp_path):
    """A broken transcription scorer refuses the bundle for a MIDI-only scorer too: every model is hashed again
    and parsed as self-contained ONNX; only those the input needs are opened by ONNX Runtime (the install's health
    check opened and ran them all)."""
    key = Ed25519PrivateKey.generate()
    copy = shutil.copytree(DEFAULT_BUNDLE, tmp_path / "bundle")
    broken = b"\x08\x07not an onnx graph at all"
    (copy / "models" / "transcription_scorer.onnx").write_bytes(broken)
    files = json.loads((copy / "manifest.json").read_text())["files"]
    files["models/transcription_scorer.onnx"] = {"size": len(broken), "sha256": hashlib.sha256(broken).hexdigest()}
    resign(copy, key, files=files)
    trust(tmp_path, key)
    with pytest.raises(BundleRejected, match="transcription_scorer.onnx: not an ONNX model"):
        BundleScorer(copy, inputs=("midi",))


def test_an_unknown_input_kind_is_the_callers_mistake_not_the_bundles():
    with pytest.raises(ValueError, match="unknown input kinds"):
        BundleScorer(inputs=("video",))


@pytest.mark.parametrize(
    "source, file, kind",
    [("microphone", "", "audio"), ("midi", "", "midi"), ("file", "take.wav", "audio"), ("file", "take.MID", "midi")],
)
def test_the_daemon_loads_the_models_of_its_configured_input(tmp_path, source, file, kind):
    from appliance_helpers import appliance_config

    from pianocoach.appliance.daemon import Daemon

    assert InputConfig(source=source, file=file).kind() == kind
    config = appliance_config(tmp_path, file, **{"input.source": source})
    daemon = Daemon(config, None, None, None, lambda: None)  # only its bundle loading is used here
    scorer = daemon.load_scorer()
    assert scorer.inputs == (kind,)
    assert (MIDI_SCORER in scorer.sessions) == (kind == "midi")
    assert (TRANSCRIPTION_SCORER in scorer.sessions) == (kind == "audio")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_memory_is_given_back_on_glibc():
    blocks = [bytearray(64_000) for _ in range(300)]  # 19 MB below glibc's mmap threshold: in the heap
    del blocks
    assert give_back_free_memory() is True  # this machine's Python runs on glibc (Debian): pages were released
