"""The audio scorers' features: shapes, the pitch of a known tone, and the device's block-by-block
computation against the host's whole-recording computation."""

import numpy as np
import pytest
import soxr

from pianocoach.features import DEFAULT_SETTINGS
from pianocoach.features.audio import (
    AudioFeatureStream,
    block_samples,
    frames_per_block,
    performance_features,
    stack_blocks,
)
from pianocoach.inputs.files import read_audio

RATE = DEFAULT_SETTINGS.capture_rate


def tone(freq: float, seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def stream(audio: np.ndarray, rate: int, chunks: list[int]) -> list:
    features, start, k = AudioFeatureStream(), 0, 0
    out = []
    while start < len(audio):
        size = chunks[k % len(chunks)]
        out += features.feed(audio[start : start + size], rate)
        start, k = start + size, k + 1
    return out + features.finish()


def test_a_block_is_100_frames_of_64_mel_bands_and_the_settings_are_hashed():
    assert frames_per_block() == 100 and block_samples() == 44100  # 2 s at 22,050 Hz
    blocks = performance_features(tone(440, 6.0), RATE)
    batch = stack_blocks(blocks)
    assert (
        batch["mel"].shape == (3, 1, 64, 100)
        and batch["contour"].shape == (3, 3, 100)
        and batch["rhythm"].shape == (3, 2)
    )
    settings = DEFAULT_SETTINGS.to_dict()
    assert {"capture_rate", "mel_hop", "mel_bands", "pyin_resolution", "tempo_context_blocks"} <= set(settings)


def test_pyin_turns_a_440_hz_tone_into_midi_69_scaled_to_the_piano_range():
    block = performance_features(tone(440, 4.0), RATE)[1]
    pitch, voiced = block.contour[0], block.contour[1]
    expected = (69 - DEFAULT_SETTINGS.pitch_min) / (DEFAULT_SETTINGS.pitch_max - DEFAULT_SETTINGS.pitch_min)
    assert np.median(pitch) == pytest.approx(expected, abs=0.5 / 87) and np.median(voiced) > 0.5
    silent = performance_features(np.zeros(4 * RATE, dtype=np.float32), RATE)[0]
    assert silent.contour[0].max() == 0 and silent.mel.max() == DEFAULT_SETTINGS.mel_floor_db and silent.activity == 0


def test_a_last_partial_block_is_padded_when_at_least_half_a_block_else_dropped():
    assert len(performance_features(tone(440, 5.2), RATE)) == 3  # 2 + 2 + 1.2 (padded)
    assert len(performance_features(tone(440, 4.8), RATE)) == 2  # 0.8 s left over: dropped


@pytest.mark.parametrize("chunks", [[2 * RATE], [4410], [10_000, 31_337, 777]])
def test_block_by_block_features_equal_the_whole_recording_features(performance, chunks):
    audio, rate = read_audio(performance["wav"])
    batch = performance_features(audio, rate)
    streamed = stream(audio, rate, chunks)
    assert len(batch) == len(streamed) == int(len(audio) / rate / 2 + 0.5)
    for a, b in zip(batch, streamed):
        # one STFT over the whole signal vs one per block: the same frames, float32 rounding apart
        assert np.abs(a.mel - b.mel).max() < 1e-3
        assert np.abs(a.contour - b.contour).max() < 1e-3
        assert np.allclose(a.rhythm, b.rhythm, atol=1e-4) and a.activity == pytest.approx(b.activity, abs=1e-4)
    assert max(b.activity for b in batch) > 0.5  # the rendering has onsets


def test_a_48_khz_capture_gives_the_same_blocks_as_44_1_khz(performance):
    audio, rate = read_audio(performance["wav"])
    at_48k = soxr.resample(audio, rate, 48000)
    a, b = performance_features(audio, rate), performance_features(at_48k, 48000)
    assert len(a) == len(b)
    assert np.median(np.abs(stack_blocks(a)["mel"] - stack_blocks(b)["mel"])) < 1.0  # dB
