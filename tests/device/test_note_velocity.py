"""The numbers the velocity model reads for each heard note (pianocoach.features.note_velocity), and the velocities the
default bundle's velocity model hears in rendered takes."""

from __future__ import annotations

import numpy as np
import pytest
from midi_helpers import C_MAJOR, write_midi

from pianocoach.features import NoteTable, read_midi
from pianocoach.features.audio import resample
from pianocoach.features.note_velocity import FEATURE_NAMES, OnsetFrames, harmonic_bands
from pianocoach.features.sound_profile import MEL_BANDS, SoundProfile
from pianocoach.inputs.files import read_audio
from pianocoach.render import render_midi
from pianocoach.scoring import BundleScorer
from pianocoach.scoring.heard import HearingModels, transcribe_file


def _frames_of(wav) -> OnsetFrames:
    audio, rate = read_audio(wav)
    frames = OnsetFrames()
    frames.add(SoundProfile().feed(resample(audio, rate)))
    return frames


def test_features_do_not_depend_on_how_the_frames_arrived():
    rng = np.random.default_rng(3)
    bands = rng.normal(-50, 12, (MEL_BANDS, 2500)).astype(np.float32)  # more than the first allocation
    onsets = np.sort(rng.uniform(0, 110, 300))
    table = NoteTable.from_arrays(onsets, onsets + 0.5, rng.integers(21, 109, 300), np.full(300, 64))
    whole, pieces = OnsetFrames(), OnsetFrames()
    whole.add(bands)
    start = 0
    for size in rng.integers(0, 40, 400):
        pieces.add(bands[:, start : start + size])
        start += size
    pieces.add(bands[:, start:])
    assert pieces.count == whole.count == bands.shape[1]
    assert np.array_equal(pieces.features(table), whole.features(table))
    assert whole.features(table).shape == (300, len(FEATURE_NAMES))


def test_a_louder_or_quieter_microphone_changes_nothing():
    """A microphone's gain is unknown: the same take 12 dB louder or 20 dB quieter reads the same numbers."""
    rng = np.random.default_rng(5)
    bands = rng.normal(-50, 12, (MEL_BANDS, 600)).astype(np.float32)
    onsets = np.sort(rng.uniform(0, 27, 80))
    table = NoteTable.from_arrays(onsets, onsets + 0.3, rng.integers(21, 109, 80), rng.integers(1, 128, 80))
    features = []
    for gain_db in (0.0, 12.0, -20.0):
        frames = OnsetFrames()
        frames.add(bands + gain_db)
        features.append(frames.features(table))
    np.testing.assert_allclose(features[1], features[0], atol=0.1)  # float16 frames: about 0.03 dB steps at -50 dB
    np.testing.assert_allclose(features[2], features[0], atol=0.1)


def test_a_window_reads_only_its_own_frames():
    """A table's numbers are against the frames its notes span: a window's are final once its frames have come, and a
    loud passage after it changes nothing; the whole take's are against the whole take."""
    rng = np.random.default_rng(9)
    bands = rng.normal(-50, 12, (MEL_BANDS, 900)).astype(np.float32)
    window = NoteTable.from_arrays([2.0, 5.0, 9.0], [3.0, 6.0, 12.0], [60, 64, 67], [50, 60, 70])
    early, late = OnsetFrames(), OnsetFrames()
    high = int(np.ceil((12.0 * 22050 - 1024) / 1024)) + 4  # up to its last release and a few frames on
    early.add(bands[:, :high])
    late.add(bands)
    late.add(bands + 30)  # a far louder passage after the window
    assert early.span(window) == late.span(window) and 0 < early.span(window)[0] < early.span(window)[1] <= high
    np.testing.assert_array_equal(early.features(window), late.features(window))
    take = NoteTable.from_arrays([2.0, 5.0, 9.0, 60.0], [3.0, 6.0, 12.0, 61.0], [60, 64, 67, 72], [50, 60, 70, 80])
    assert not np.allclose(late.features(take)[:3], late.features(window))  # against the whole take: other levels


def test_harmonics_land_in_rising_bands():
    bands = harmonic_bands(np.arange(21, 109))
    assert bands.shape == (88, 4)
    assert np.all(np.diff(bands[:, 0]) >= 0) and np.all(np.diff(bands, axis=1) >= 0)
    assert bands[0, 0] == 0 and bands[-1, -1] == MEL_BANDS - 1  # A0 in the lowest band, C8's 4th above 8 kHz


def test_a_harder_strike_reads_louder_and_brighter(tmp_path):
    """One note struck softly and hard in turn (FluidSynth, the default soundfont): after the first, a hard strike rises
    further over what was sounding, its level against the loudest so far is higher, its upper harmonics stand higher."""
    soft, hard = 30, 110
    notes = [(0.5 + 2.0 * i, 1.8 + 2.0 * i, 60, v) for i, v in enumerate([soft, hard, soft, hard])]
    wav = render_midi(write_midi(tmp_path / "strikes.mid", notes), tmp_path / "strikes.wav")
    table = read_midi(tmp_path / "strikes.mid")
    x = _frames_of(wav).features(table)
    names = list(FEATURE_NAMES)
    rise, level, upper = (names.index(n) for n in ("rise_h1_db", "level_vs_loudest_so_far_db", "h3_vs_level_db"))
    later = np.arange(len(table)) > 0  # the first rises from digital silence, however soft it is
    soft_rows, hard_rows = later & (table.velocity == soft), later & (table.velocity == hard)
    assert x[hard_rows, rise].min() > x[soft_rows, rise].max() + 6, x[:, rise]
    assert x[hard_rows, level].min() > x[soft_rows, level].max() + 6, x[:, level]  # the soft ones after a hard one
    assert x[hard_rows, upper].mean() > x[soft_rows, upper].mean(), x[:, upper]


@pytest.fixture(scope="module")
def soft_then_loud(tmp_path_factory):
    """A scale played softly, then the same loudly, each note a different velocity within its half."""
    folder = tmp_path_factory.mktemp("dynamics")
    rng = np.random.default_rng(7)
    notes = []
    for half, (low, high) in enumerate(((25, 50), (85, 115))):
        for i, pitch in enumerate(C_MAJOR * 2):
            onset = 0.5 + 8.5 * half + 0.5 * i
            notes.append((onset, onset + 0.45, pitch + 12 * (i // 8), int(rng.integers(low, high))))
    midi = write_midi(folder / "dynamics.mid", notes)
    return {"midi": midi, "wav": render_midi(midi, folder / "dynamics.wav")}


def test_the_default_bundle_hears_soft_and_loud_playing(soft_then_loud):
    scorer = BundleScorer()
    assert scorer.velocity_model is not None
    transcribed = transcribe_file(soft_then_loud["wav"], models=HearingModels(velocity=scorer.velocity_model))
    heard = transcribed.table
    assert transcribed.velocities_heard
    played = read_midi(soft_then_loud["midi"])
    first_half = heard.onset < 8.5
    assert heard.velocity[~first_half].mean() > heard.velocity[first_half].mean() + 20, heard.velocity
    # against the keys of the same notes: the model's follow them, basic-pitch's amplitudes do not as well
    plain = transcribe_file(soft_then_loud["wav"])
    assert not plain.velocities_heard and np.array_equal(plain.table.pitch, heard.pitch)
    found, truth = [], []
    for j, (onset, pitch) in enumerate(zip(heard.onset, heard.pitch)):
        near = np.flatnonzero((played.pitch == pitch) & (np.abs(played.onset - onset) <= 0.05))
        if len(near):
            found.append(j)
            truth.append(played.velocity[near[0]])
    assert len(found) > 0.8 * len(played)
    model_r = np.corrcoef(heard.velocity[found], truth)[0, 1]
    assert model_r > 0.7 and model_r > np.corrcoef(plain.table.velocity[found], truth)[0, 1], model_r
