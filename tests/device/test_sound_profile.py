"""The sound profile (the input of the "is this a piano?" check): the same numbers (to rounding) however the capture
is cut into blocks, bounded state, and measures that tell a struck, decaying note from a held one and from noise."""

import numpy as np
import pytest

from pianocoach.features import NoteTable
from pianocoach.features.sound_profile import (
    HISTOGRAM_DB,
    PROFILE_NAMES,
    SAMPLE_RATE,
    SoundProfile,
    note_profile,
)
from pianocoach.transcription import SAMPLE_RATE as TRANSCRIBER_RATE

SECONDS = 8


def tones(decay_per_s: float, seed: int = 0) -> np.ndarray:
    """A note struck every half second (a few harmonics), decaying by ``decay_per_s`` (0: held like an organ)."""
    rng = np.random.default_rng(seed)
    t = np.arange(SECONDS * SAMPLE_RATE) / SAMPLE_RATE
    since = t % 0.5
    f0 = 220.0 * 2 ** (rng.integers(0, 12, size=SECONDS * 2) / 12)[np.minimum((t // 0.5).astype(int), SECONDS * 2 - 1)]
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5))
    return (0.2 * np.exp(-decay_per_s * since) * wave + 1e-4 * rng.standard_normal(len(t))).astype(np.float32)


def profile(audio: np.ndarray, sizes=None) -> SoundProfile:
    p = SoundProfile()
    if sizes is None:
        p.feed(audio)
        return p
    start = 0
    for size in sizes:
        p.feed(audio[start : start + size])
        start += size
    p.feed(audio[start:])
    return p


def value(vector: np.ndarray, name: str) -> float:
    return float(vector[PROFILE_NAMES.index(name)])


def test_the_profile_is_fed_at_the_transcribers_rate():
    assert SAMPLE_RATE == TRANSCRIBER_RATE  # the session feeds both the same resampled blocks


def test_the_numbers_do_not_depend_on_how_the_capture_is_cut():
    audio = tones(6.0)
    whole = profile(audio).vector(None)
    rng = np.random.default_rng(1)
    for sizes in ([44100] * 3, list(rng.integers(1, 9000, size=40)), [1, 2047, 2048, 5000]):
        assert np.allclose(profile(audio, sizes).vector(None), whole, rtol=1e-6, atol=1e-6)  # sums' rounding
    assert whole.shape == (len(PROFILE_NAMES),) and np.all(np.isfinite(whole))


def test_the_state_stays_bounded_however_long_the_take():
    p = SoundProfile()
    block = tones(6.0)[: 2 * SAMPLE_RATE]
    for _ in range(30):
        p.feed(block)
    assert len(p._rest) < 2048 and p.histogram.shape == (int(HISTOGRAM_DB[1] - HISTOGRAM_DB[0]) + 1,)
    assert p.frames > 1000


def test_a_struck_note_decays_where_a_held_one_does_not():
    struck = profile(tones(6.0)).vector(None)
    held = profile(tones(0.0)).vector(None)
    assert value(struck, "after_onset_slope_db") < -0.5 < value(held, "after_onset_slope_db") + 0.5
    assert value(struck, "onset_share") > 0.05


def test_noise_is_flat_and_tones_are_not():
    rng = np.random.default_rng(2)
    noise = profile((0.1 * rng.standard_normal(SECONDS * SAMPLE_RATE)).astype(np.float32)).vector(None)
    struck = profile(tones(6.0)).vector(None)
    assert value(noise, "flatness_mean") > 0.3 > 0.05 > value(struck, "flatness_mean")


def test_level_does_not_change_the_profile_but_is_reported():
    audio = tones(6.0)
    loud, quiet = profile(audio), profile(audio * np.float32(0.1))  # 20 dB quieter
    assert np.allclose(loud.vector(None), quiet.vector(None), atol=0.05)  # to the 1 dB level bins
    assert loud.loudness_db() - quiet.loudness_db() == pytest.approx(20.0, abs=1.5)


def test_room_tone_before_and_after_the_playing_is_left_out():
    rng = np.random.default_rng(4)
    room = (10 ** (-75 / 20) * rng.standard_normal(8 * SAMPLE_RATE)).astype(np.float32)  # -75 dBFS of hiss
    playing = tones(6.0)
    alone, framed = profile(playing), profile(np.concatenate([room[: 2 * SAMPLE_RATE], playing, room]))
    shape = [i for i, n in enumerate(PROFILE_NAMES) if n not in ("level_spread_db", "quiet_share")]
    # the same frames measured, but for the first note's rise out of the room tone
    assert np.allclose(alone.vector(None)[shape], framed.vector(None)[shape], atol=0.05, rtol=0.1)
    assert alone.loudness_db() == framed.loudness_db()
    assert alone.flatness() < 0.01 and framed.flatness() < 0.01  # the hiss is not measured as the playing's
    assert value(framed.vector(None), "quiet_share") > 0.45  # 10 of 18 s


def test_steady_noise_leaves_little_margin_and_pauses_leave_much():
    rng = np.random.default_rng(3)
    noise = profile((0.05 * rng.standard_normal(SECONDS * SAMPLE_RATE)).astype(np.float32))
    audio = tones(6.0)
    audio[2 * SAMPLE_RATE : 4 * SAMPLE_RATE] = 0.0  # a pause
    assert noise.noise_margin_db() < 5.0
    assert profile(audio).noise_margin_db() > 30.0


def test_silence_gives_a_finite_profile():
    silent = profile(np.zeros(SECONDS * SAMPLE_RATE, dtype=np.float32))
    assert silent.histogram[silent.playing()].sum() == 0 and silent.flatness() == 0.0
    assert np.all(np.isfinite(silent.vector(None)))


def test_glides_between_neighbouring_notes_are_counted():
    # speech transcribed by basic-pitch: overlapping notes a semitone apart; piano playing: a scale, one at a time
    glide = NoteTable.from_arrays([0.0, 0.05, 0.1, 0.15], [0.12, 0.17, 0.22, 0.3], [60, 61, 60, 61], [60] * 4)
    scale = NoteTable.from_arrays([0.0, 0.5, 1.0, 1.5], [0.45, 0.95, 1.45, 1.95], [60, 62, 64, 65], [60] * 4)
    names = PROFILE_NAMES[PROFILE_NAMES.index("notes_per_s") :]
    assert dict(zip(names, note_profile(glide)))["semitone_neighbour_share"] == 1.0
    assert dict(zip(names, note_profile(scale)))["semitone_neighbour_share"] == 0.0
    assert note_profile(None) == [0.0] * 5
