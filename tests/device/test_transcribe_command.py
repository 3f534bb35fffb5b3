"""`pianocoach transcribe`: what the device hears in a recording, as a MIDI file (issue 19, item 1's output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from pianocoach.features import read_midi
from pianocoach.scoring import BundleScorer
from pianocoach.scoring.heard import Heard, HearingModels, transcribe_file

CLI = [sys.executable, "-m", "pianocoach.cli", "transcribe"]


def _onset_f1(truth, heard, tolerance: float = 0.05) -> float:
    """Onset F1: a heard note matches an unmatched true note of the same pitch within ``tolerance`` seconds."""
    used = np.zeros(len(truth), bool)
    hits = 0
    for onset, pitch in zip(heard.onset, heard.pitch):
        near = np.flatnonzero(~used & (truth.pitch == pitch) & (np.abs(truth.onset - onset) <= tolerance))
        if len(near):
            used[near[0]] = True
            hits += 1
    return 2 * hits / (len(truth) + len(heard))


def test_transcribe_writes_the_notes_the_device_hears_as_midi(performance, tmp_path):
    out = tmp_path / "heard.mid"
    run = subprocess.run(
        [*CLI, str(performance["wav"]), "-o", str(out), "--json"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    written, truth = read_midi(out), read_midi(performance["midi"])
    assert summary["notes"] == len(written)
    # the file holds exactly what scoring transcribes from the same recording, the pedal when the model was sure
    transcribed = transcribe_file(performance["wav"], models=HearingModels(pedal=BundleScorer().pedal_model))
    heard, pedal = transcribed.table, transcribed.pedal
    assert pedal is not None and summary["pedal_confidence"] == pedal.confidence
    assert summary["pedal"] is pedal.reliable and (len(written.pedal_events) > 0) is pedal.reliable
    assert np.array_equal(written.pitch, heard.pitch) and np.allclose(written.onset, heard.onset, atol=2e-3)
    assert _onset_f1(truth, written) > 0.7  # a real transcription of the rendered performance, not a copy
    assert 1 < np.ptp(written.velocity)  # velocities from the sound, not a constant
    # the velocities are the default bundle's velocity model's, as the summary says
    assert summary["velocities_heard"] is True
    with_velocity = transcribe_file(performance["wav"], models=HearingModels(velocity=BundleScorer().velocity_model))
    assert np.array_equal(written.velocity, with_velocity.table.velocity)
    # and the ends the default bundle's note-end model hears (with the pedal it learned with)
    assert summary["ends_heard"] is True and "note ends heard by the note-end model" in Heard(**summary).summary()
    scorer = BundleScorer()
    ended = transcribe_file(performance["wav"], models=HearingModels(scorer.pedal_model, None, scorer.note_end_model))
    assert ended.ends_heard and np.allclose(written.offset, ended.table.offset, atol=2e-3)
    assert not np.allclose(written.offset, heard.offset, atol=0.05)  # not the transcriber's own ends
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # a file the player may share, not mkstemp's 0600


def _ends_within_tolerance(truth, heard) -> float:
    """Of the heard notes matching a played one (same pitch, onset within 50 ms), the share whose end is within
    mir_eval's offset tolerance (20 % of the note's length, at least 50 ms) of the played note's end."""
    used, within = np.zeros(len(truth), bool), []
    for onset, offset, pitch in zip(heard.onset, heard.offset, heard.pitch):
        near = np.flatnonzero(~used & (truth.pitch == pitch) & (np.abs(truth.onset - onset) <= 0.05))
        if len(near):
            j = near[0]
            used[j] = True
            within.append(abs(offset - truth.offset[j]) <= max(0.05, 0.2 * (truth.offset[j] - truth.onset[j])))
    return float(np.mean(within))


def test_the_note_end_model_ends_detached_notes_where_their_keys_came_up(tmp_path):
    """Short detached notes without the pedal: basic-pitch hears each about three times as long as it was held (the
    release tail); the default bundle's note-end model ends them close to where the keys came up. (The render's
    soundfont is one the model trained on; make note-end-model measures it on the held-out one.)"""
    from midi_helpers import write_midi

    from pianocoach.render import render_midi

    rng = np.random.default_rng(0)
    scale = [0, 2, 4, 5, 7, 9, 11, 12]
    notes = [
        (0.5 * i + 0.5, 0.5 * i + 0.65, 60 + scale[i % 8] + 12 * (i // 8 % 2), int(rng.integers(50, 90)))
        for i in range(24)
    ]
    wav = render_midi(write_midi(tmp_path / "detached.mid", notes), tmp_path / "detached.wav")
    truth = read_midi(tmp_path / "detached.mid")
    scorer = BundleScorer()
    plain = transcribe_file(wav, models=HearingModels(pedal=scorer.pedal_model))
    ended = transcribe_file(wav, models=HearingModels(pedal=scorer.pedal_model, note_end=scorer.note_end_model))
    assert ended.ends_heard and not plain.ends_heard
    assert np.array_equal(ended.table.onset, plain.table.onset)  # the same notes; only their ends moved
    heard_lengths = np.median(plain.table.offset - plain.table.onset)
    model_lengths = np.median(ended.table.offset - ended.table.onset)
    assert heard_lengths > 0.35 and abs(model_lengths - 0.15) < abs(heard_lengths - 0.15) / 2, (
        heard_lengths,
        model_lengths,
    )
    assert _ends_within_tolerance(truth, ended.table) > _ends_within_tolerance(truth, plain.table) + 0.25


def test_the_pedal_model_hears_the_sustain_pedal(performance, tmp_path):
    """The same piece rendered with and without its pedal: the shipped model hears much more pedal in the first. (The
    render's soundfont is one the model trained on; make pedal-model measures it on the held-out one.)"""
    import pretty_midi

    from pianocoach.render import render_midi

    dry = pretty_midi.PrettyMIDI(str(performance["midi"]))
    for instrument in dry.instruments:
        instrument.control_changes = [c for c in instrument.control_changes if c.number != 64]
    dry.write(str(tmp_path / "dry.mid"))
    model = BundleScorer().pedal_model
    pedalled = transcribe_file(performance["wav"], models=HearingModels(pedal=model)).pedal
    unpedalled = transcribe_file(
        render_midi(tmp_path / "dry.mid", tmp_path / "dry.wav"), models=HearingModels(model)
    ).pedal
    assert pedalled is not None and unpedalled is not None
    assert pedalled.down_share > unpedalled.down_share + 0.2, (pedalled, unpedalled)


def test_a_refused_bundle_asked_for_is_said_in_one_line_and_nothing_is_written(performance, tmp_path):
    (tmp_path / "bundle").mkdir()  # no manifest, no signature
    run = subprocess.run(
        [*CLI, str(performance["wav"]), "-o", str(tmp_path / "x.mid"), "--bundle", str(tmp_path / "bundle")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in run.stderr.splitlines() if line.startswith("pianocoach:")]
    assert run.returncode == 1 and len(errors) == 1 and "bundle" in errors[0], run.stderr
    assert not (tmp_path / "x.mid").exists()


def test_without_a_usable_installed_bundle_the_notes_are_written_without_the_pedal(
    performance, tmp_path, monkeypatch, capsys
):
    import pianocoach.scoring.bundle_scorer
    from pianocoach.cli import main

    monkeypatch.setattr(pianocoach.scoring.bundle_scorer, "DEFAULT_BUNDLE", tmp_path / "no-bundle")
    out = tmp_path / "heard.mid"
    assert main(["transcribe", str(performance["wav"]), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    written = read_midi(out)
    assert summary["pedal"] is False and summary["pedal_confidence"] is None and len(written.pedal_events) == 0
    assert len(written) == summary["notes"] > 20


def test_transcribe_refuses_midi_and_missing_files_in_one_line(performance, tmp_path):
    for path, words in ((performance["midi"], "is MIDI already"), (tmp_path / "none.wav", "none.wav")):
        run = subprocess.run(
            [*CLI, str(path), "-o", str(tmp_path / "x.mid")], capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 1 and words in run.stderr and len(run.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x.mid").exists()
    # without -o the MIDI take would be its own output: still "is MIDI already", and the file is untouched
    before = performance["midi"].read_bytes()
    run = subprocess.run([*CLI, str(performance["midi"])], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "is MIDI already" in run.stderr and performance["midi"].read_bytes() == before
