"""The scoring pipeline end to end on a generated performance, its rendering, and bad input."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr
from midi_helpers import steady_scale, write_midi

from pianocoach.bundle import DEFAULT_BUNDLE
from pianocoach.errors import BundleError, BundleRejected, InputFileError, NoNotesError
from pianocoach.features import read_midi
from pianocoach.features.audio import performance_features
from pianocoach.feedback.templates import feedback_text
from pianocoach.feedback.writer import FeedbackWriter
from pianocoach.inputs import AudioFileError, AudioFileSource, MidiFileSource, open_file
from pianocoach.inputs.files import read_audio
from pianocoach.rating_scales import SCALE_NAMES
from pianocoach.scoring import BundleScorer, NoPlayingError, TooShortError, score_source, write_feedback
from pianocoach.scoring.notes_stream import MidiNoteTracker
from pianocoach.scoring.resample import StreamResampler

REQUIRED = {"input", "duration_s", "source", "scale_names", "scale_values", "overall", "measures", "feedback", "timing"}


def test_replayed_midi_rebuilds_the_note_table_training_read(performance):
    tracker = MidiNoteTracker()
    for block in MidiFileSource(performance["midi"]).blocks():
        tracker.feed(block.events)
    rebuilt, original = tracker.final(), read_midi(performance["midi"])
    for column in ("onset", "offset", "pitch", "velocity", "pedal", "pedal_events"):
        assert np.array_equal(getattr(rebuilt, column), getattr(original, column)), column


@pytest.mark.parametrize("kind, source_class", [("midi", MidiFileSource), ("wav", AudioFileSource)])
@pytest.mark.slow
def test_streaming_in_2_s_blocks_equals_scoring_the_file_whole(performance, scorer, kind, source_class):
    streamed = score_source(source_class(performance[kind], block_seconds=2.0), scorer)
    whole = score_source(source_class(performance[kind], block_seconds=1e9), scorer)
    # Same samples or events give the same notes, the same fixed window grid, the same features and
    # the same single-threaded ONNX Runtime calls: the results are identical, not merely close.
    assert streamed.scale_values == whole.scale_values and streamed.overall == whole.overall
    assert streamed.windows == whole.windows >= 5


def test_audio_and_midi_results_have_every_field(performance, scorer):
    midi = score_source(open_file(performance["midi"]), scorer).to_dict()
    audio = score_source(open_file(performance["wav"]), scorer).to_dict()
    for result, source in ((midi, "midi"), (audio, "audio")):
        assert REQUIRED <= set(result) and result["source"] == source
        assert result["scale_names"] == list(SCALE_NAMES) and len(result["scale_values"]) == 19
        known = [v for v in result["scale_values"] if v is not None]  # null: a scale the input cannot show
        assert all(1 / 7 - 0.2 < v < 1.2 for v in known) and len(known) >= 17 and 0 <= result["overall"] <= 100
        assert {"tempo_bpm", "tempo_variation_pct", "dynamic_range_db", "pedal_down_pct", "note_count"} <= set(
            result["measures"]
        )
        assert set(result["timing"]) >= {"transcription", "features", "inference"}
    assert 85 < midi["measures"]["tempo_bpm"]["value"] < 110  # generated at 96 BPM (folded IOI tempo)
    assert not midi["provisional"] and midi["audio_path"] is None
    assert audio["audio_path"] == scorer.audio_path.mode and audio["provisional"] == scorer.audio_is_provisional()
    blocks = len(performance_features(*read_audio(performance["wav"])))  # 2 s feature blocks of the recording
    assert audio["audio_blocks"] == (blocks if scorer.audio_path.uses_audio_model else 0) and blocks >= 8
    assert audio["measures"]["pedal_down_pct"]["value"] is None and midi["measures"]["pedal_down_pct"]["value"] > 50
    assert audio["timing"]["transcription"] > 0 and midi["timing"]["transcription"] == 0


def test_scoring_gives_numbers_and_feedback_is_a_step_of_its_own(performance, scorer):
    result = score_source(open_file(performance["midi"]), scorer)
    assert result.feedback == "" and result.feedback_source == ""  # scoring writes no words
    written = write_feedback(result)
    expected = feedback_text(dict(zip(result.scale_names, result.scale_values)), result.overall, result.measures)
    assert written.source == result.feedback_source == "template" and result.feedback == written.text == expected
    assert f"({result.overall:.0f}/100)" in result.feedback


class _BrokenBackend:
    name = "local"

    def stream(self, *args, **kwargs):
        raise RuntimeError("the model's process died")


def test_a_failing_feedback_writer_leaves_the_template_text(performance, scorer):
    result = score_source(open_file(performance["midi"]), scorer)
    template = write_feedback(result).text
    result.feedback = ""
    write_feedback(result, FeedbackWriter(_BrokenBackend()))
    assert result.feedback == template and result.feedback_source == "template"


@pytest.mark.parametrize("rate", [44100, 48000, 22050])
def test_the_stream_resampler_does_not_depend_on_the_chunking(rate):
    rng = np.random.default_rng(rate)
    audio = (0.3 * rng.standard_normal(3 * rate)).astype(np.float32)
    whole = StreamResampler(22050)
    once = np.concatenate([whole.feed(audio, rate), whole.flush()])
    chunked = StreamResampler(22050)
    cuts = [0, 1000, 1001, 30000, 47000, len(audio)]
    pieces = [chunked.feed(audio[a:b], rate) for a, b in zip(cuts, cuts[1:])] + [chunked.flush()]
    assert np.array_equal(np.concatenate(pieces), once)
    assert abs(len(once) - 3 * 22050) <= 1
    if rate == 22050:  # already at the rate: passed through unchanged, as soxr would
        assert np.array_equal(once, audio)
    with pytest.raises(ValueError, match="sample rate changed from"):
        chunked.feed(audio[:100], rate + 1)


@pytest.mark.slow
def test_a_stereo_48_khz_file_is_mixed_down_and_resampled(performance, scorer, tmp_path):
    audio, rate = sf.read(str(performance["wav"]), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    stereo = np.stack([soxr.resample(mono, rate, 48000)] * 2, axis=1)
    sf.write(str(tmp_path / "stereo48k.flac"), stereo, 48000)
    original = score_source(open_file(performance["wav"]), scorer)
    converted = score_source(open_file(tmp_path / "stereo48k.flac"), scorer)
    notes = original.measures["note_count"]["value"]
    assert abs(converted.measures["note_count"]["value"] - notes) <= 0.05 * notes
    assert abs(converted.overall - original.overall) < 5


def test_silence_is_no_playing(scorer, tmp_path):
    sf.write(str(tmp_path / "silence.wav"), np.zeros(44100 * 5, dtype=np.float32), 44100)
    with pytest.raises(NoPlayingError, match="silence.wav: no playing detected"):
        score_source(open_file(tmp_path / "silence.wav"), scorer)


def test_less_than_3_seconds_of_playing_is_refused(scorer, tmp_path):
    path = write_midi(tmp_path / "short.mid", steady_scale(bpm=240, count=8))  # 8 notes a quarter second apart: 1.9 s
    with pytest.raises(TooShortError, match=r"short.mid: only 1\.9 s of playing; play at least 3 s"):
        score_source(open_file(path), scorer)


def test_clipped_audio_is_scored_with_a_warning(performance, scorer, tmp_path):
    audio, rate = sf.read(str(performance["wav"]), dtype="float32")
    sf.write(str(tmp_path / "loud.wav"), np.clip(audio * 20, -1, 1), rate)
    result = score_source(open_file(tmp_path / "loud.wav"), scorer)
    assert any("clipped" in w for w in result.warnings)


def test_unreadable_and_empty_files_name_the_file(scorer, tmp_path):
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(AudioFileError, match=r"notes.wav: not a readable audio file"):
        open_file(tmp_path / "notes.wav")
    empty = write_midi(tmp_path / "empty.mid", [])
    with pytest.raises(NoNotesError, match="empty.mid: no notes"):
        open_file(empty)
    with pytest.raises(InputFileError, match=r"score.pdf: unsupported file type .pdf"):
        open_file(tmp_path / "score.pdf")


def test_an_empty_midi_stream_is_no_playing(scorer):
    from pianocoach.inputs.base import Block
    from pianocoach.scoring import ScoringSession

    session = ScoringSession(scorer, "midi", "keyboard")
    session.add(Block(0, 0.0, 2.0, events=()))
    with pytest.raises(NoPlayingError, match="keyboard: no playing detected"):
        session.finish()


def test_no_bundle_and_a_refused_bundle_stop_with_the_reason(tmp_path):
    with pytest.raises(BundleError, match="no model bundle installed here"):
        BundleScorer(tmp_path / "nothing")
    copy = shutil.copytree(DEFAULT_BUNDLE, tmp_path / "bundle")
    (copy / "models" / "midi_scorer.onnx").write_bytes(b"changed")
    with pytest.raises(BundleRejected, match="refused"):
        BundleScorer(copy)


def run_cli(*args):
    # CI=1 as on the CI machine: pyfluidsynth (imported by pretty_midi) then prints to stdout on import.
    env = {**os.environ, "CI": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pianocoach.cli", "score", *map(str, args)], capture_output=True, text=True, env=env
    )


@pytest.mark.slow
def test_score_cli_prints_one_json_object_per_input_and_goes_on_after_a_bad_one(performance, tmp_path):
    (tmp_path / "broken.mid").write_bytes(b"MThd garbage")
    run = run_cli("--json", performance["midi"], tmp_path / "broken.mid", performance["wav"])
    assert run.returncode == 1
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["input"] for line in lines] == [
        str(performance["midi"]),
        str(tmp_path / "broken.mid"),
        str(performance["wav"]),
    ]
    assert REQUIRED <= set(lines[0]) and REQUIRED <= set(lines[2])
    assert lines[1]["error"].startswith(f"{tmp_path / 'broken.mid'}: not a readable MIDI file")


def test_score_cli_report_in_chinese(performance):
    run = run_cli("--language", "zh", performance["midi"])
    assert run.returncode == 0, run.stderr
    assert "overall" in run.stdout and "节奏" in run.stdout and "稳定" in run.stdout
