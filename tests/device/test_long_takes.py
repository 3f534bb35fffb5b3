"""Inputs whose length or content could take the device down: a note 13 hours after the rest, a MIDI file
of megabytes, more notes than a pianist plays, NaN / infinite / absurd audio samples, a take past the
length limit, a faulty model's NaN scores. Each is scored in bounded memory or refused in one line; time
and memory against length are measured by ``make bench`` (``reports/bench/lengths.json``), not here."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from long_audio_take import score_long_take
from midi_helpers import write_midi

from pianocoach.appliance.history import History, HistoryError
from pianocoach.errors import PianoCoachError
from pianocoach.features import NoteTable, read_midi
from pianocoach.inputs import open_file
from pianocoach.inputs.base import Block
from pianocoach.inputs.files import MAX_MIDI_BYTES, table_events
from pianocoach.scoring import ScoringSession, score_source
from pianocoach.scoring.limits import TakeLimits
from pianocoach.scoring.notes_stream import MidiNoteTracker
from pianocoach.scoring.session import NotAPerformanceError, window_table

SCORE = [sys.executable, "-I", "-m", "pianocoach.cli", "score", "--json"]


def melody(seconds: float, start: float = 0.0, step: float = 0.25) -> list[tuple[float, float, int, int]]:
    return [(start + t, start + t + 0.2, 60 + int(7 * np.sin(t)), 64) for t in np.arange(0.0, seconds, step)]


def peak_mb_of(command: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``command``; its output and its peak resident memory in MB (the largest child waited for so far
    is what getrusage reports, so the command runs in its own short-lived wrapper process)."""
    wrapper = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)"
    )
    run = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, timeout=300)
    *err, peak = run.stderr.strip().splitlines()
    run.stderr = "\n".join(err)
    return run, int(peak) / 1024


@pytest.mark.slow
def test_a_note_13_hours_after_the_rest_ends_the_take_at_the_gap(tmp_path):
    """The audit's 2 KB file took 23.6 GB and was killed; now the gap ends the take and the rest is named."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=20.0)  # few ticks a second: pretty_midi reads 13 hours of them
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [
        pretty_midi.Note(v, p, a, b) for a, b, p, v in melody(20.0) + [(13 * 3600.0, 13 * 3600.0 + 0.5, 60, 64)]
    ]
    midi.instruments.append(piano)
    path = tmp_path / "gap.mid"
    midi.write(str(path))
    assert path.stat().st_size < 4096 and read_midi(path).end > 13 * 3600
    run, peak_mb = peak_mb_of(SCORE + [str(path)])
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["duration_s"] < 60 and result["windows"] >= 5
    assert any("silence" in w and "rest of the input was not scored" in w for w in result["warnings"])
    assert peak_mb < 1000, peak_mb  # the scoring process of any take stays far below the audit's 23.6 GB


def test_a_take_is_stopped_at_its_length_limit(tmp_path, scorer):
    path = write_midi(tmp_path / "long.mid", melody(90.0))
    result = score_source(open_file(path), scorer, limits=TakeLimits(max_seconds=40.0, silence_stop_s=0.0))
    assert 39.0 <= result.duration_s <= 43.0
    assert any("stopped at the 0.666667-minute limit" in w for w in result.warnings), result.warnings


@pytest.mark.slow
def test_a_midi_file_of_megabytes_is_refused_in_one_line(tmp_path):
    path = tmp_path / "huge.mid"
    path.write_bytes(b"MThd" + b"\0" * (MAX_MIDI_BYTES + 10))
    run = subprocess.run(SCORE + [str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    error = json.loads(run.stdout)["error"]
    assert error.startswith(f"{path}: ") and "MB of MIDI" in error and "\n" not in error


def test_more_notes_than_a_pianist_plays_is_not_a_performance(tmp_path, scorer):
    notes = [(0.5 + i * 0.004, 0.6 + i * 0.004, 30 + i % 60, 64) for i in range(2500)]  # 250 notes a second
    path = write_midi(tmp_path / "spam.mid", notes)
    with pytest.raises(NotAPerformanceError, match=r"spam.mid: \d+ notes within 20 s .*not a piano performance"):
        score_source(open_file(path), scorer)


@pytest.mark.parametrize(
    "value, match",
    [
        (np.nan, "not numbers \\(NaN or infinity\\) at 2.0 s"),
        (np.inf, "not numbers \\(NaN or infinity\\) at 2.0 s"),
        (1e30, "sample values up to 1e\\+30 at 2.0 s, far outside -1..1"),
    ],
)
def test_non_finite_and_absurd_audio_is_refused_in_one_line(tmp_path, scorer, value, match):
    rate = 22050
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(5 * rate) / rate)).astype(np.float32)
    audio[3 * rate] = value
    path = tmp_path / "odd.wav"
    sf.write(str(path), audio, rate, subtype="FLOAT")
    with pytest.raises(PianoCoachError, match=match) as caught:
        score_source(open_file(path), scorer)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_a_little_over_full_scale_is_clipped_and_scored(performance, scorer, tmp_path):
    audio, rate = sf.read(str(performance["wav"]), dtype="float32")
    path = tmp_path / "hot.wav"
    sf.write(str(path), 2.0 / np.abs(audio).max() * audio, rate, subtype="FLOAT")  # peaks at twice full scale
    result = score_source(open_file(path), scorer)
    assert any("clipped" in w for w in result.warnings) and 0 <= result.overall <= 100


def test_live_windows_from_the_tracker_equal_windows_of_the_final_table(performance):
    """The tracker's window (cost independent of the take so far) is exactly the window of the finished
    table, pedal included: the live scores can be reused at the end."""
    events = table_events(read_midi(performance["midi"]))
    tracker = MidiNoteTracker()
    tracker.feed(events)
    final = tracker.final()
    for end in np.arange(2.0, tracker.end, 2.0):
        live = tracker.window(end - 20.0, end, tracker.end)
        whole = window_table(final, end - 20.0, end)
        if whole is None:
            assert live is None
            continue
        for column in ("onset", "offset", "pitch", "velocity", "pedal", "pedal_events", "soft_pedal_events"):
            assert np.array_equal(getattr(live, column), getattr(whole, column)), (end, column)
    assert len(final.pedal_events) > 4


def test_a_live_window_holds_the_last_window_only_however_long_the_take(scorer):
    """40 minutes of playing behind it: the tracker hands the session the last 20 s, not the take."""
    tracker = MidiNoteTracker()
    tracker.feed(table_events(NoteTable.from_notes(melody(40 * 60.0, step=0.2))))
    window = tracker.window(tracker.end - 20.0, tracker.end, tracker.end)
    assert len(tracker) == 12000 and 99 <= len(window) <= 101 and window.start >= tracker.end - 20.0


def test_a_result_that_is_not_a_number_is_refused_by_the_history(tmp_path, performance, scorer):
    history = History(tmp_path / "history.sqlite")
    result = score_source(open_file(performance["midi"]), scorer)
    history.add(result)
    result.overall = float("nan")
    with pytest.raises(HistoryError, match="not stored: the result of .* values that are not numbers"):
        history.add(result)
    assert history.count() == 1 and history.latest()["overall"] >= 0
    history.close()


def test_a_block_of_the_wrong_kind_is_refused(scorer):
    session = ScoringSession(scorer, "midi", "x")
    with pytest.raises(ValueError, match="an audio block in a midi session"):
        session.add(Block(0, 0.0, 2.0, audio=np.zeros(10, np.float32), sample_rate=22050))


def test_peak_memory_helper_reports_a_child(tmp_path):
    run, peak = peak_mb_of([sys.executable, "-c", "b = bytearray(200 * 1024 * 1024)"])
    assert run.returncode == 0 and 200 <= peak < 400


@pytest.mark.slow
def test_a_long_audio_take_rescores_only_its_last_windows_at_the_end(performance, scorer):
    """Past the whole-decode length (lowered to 10 s here) windows are scored on their frozen notes while
    playing, so the end re-scores a bounded number of windows, not every one of the take."""
    session, result = score_long_take(performance["wav"], scorer)
    assert result.windows >= 28 and session.windows_computed >= result.windows
    # the key velocities of a window are heard over its own frames: final once they have come, like its notes
    assert scorer.transcription_hears_velocity and not any("velocities could not" in w for w in result.warnings)
    assert session.rescored_at_end <= 16, (session.rescored_at_end, result.windows)  # the last ~30 s, not all
