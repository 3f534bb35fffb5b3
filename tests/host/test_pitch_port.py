"""pianocoach.features.pitch.pyin, the numpy pYIN the device runs, against librosa.pyin itself.

Both are called exactly as the device calls pYIN (22,050 Hz, fmin C2 and fmax C7 as 440 * 2^((m - 69) / 12),
frame 2048, hop 441, center=False, resolution 1.0) on float32 blocks of 2048 - 441 + 2 * 22050 = 45,707
samples (100 frames), cut as the device cuts them: FluidSynth renders of two PercePiano performances and of
the sample piece the device tests use, a sine sweep with noise, silence and a single-sample click.

Tolerances. The port repeats librosa's and scipy's floating-point operations in the same order and dtypes
(including a float32 port of scipy's pocketfft and Boost's binomial sum for the Beta(2, 18) CDF), so on this
platform (x86-64, numpy 2.4, scipy 1.17, OpenBLAS) every output here is identical to the bit: voiced_flag on
every frame, f0 and voiced_prob with a maximum difference of 0. The assertions keep the margins another
platform (another BLAS or libm) may need: voiced_flag identical on >= 99.5% of frames, f0 equal within
rtol 1e-6 where both are voiced, voiced_prob within 1e-6 absolute, and the beta CDF helper within 1e-12 of
scipy.stats.beta.cdf. The autocorrelation alone is asserted identical to librosa's: a last-bit difference
there means the FFT port no longer follows pocketfft, not a platform difference.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.fft
import scipy.stats

from pianocoach.features import DEFAULT_SETTINGS
from pianocoach.features.audio import block_samples, context_samples, resample
from pianocoach.features.pitch import _autocorrelate_f32, beta_cdf, midi_to_hz, pyin

SETTINGS = DEFAULT_SETTINGS
KWARGS = dict(
    sr=SETTINGS.sample_rate,
    fmin=midi_to_hz(SETTINGS.pyin_note_min),
    fmax=midi_to_hz(SETTINGS.pyin_note_max),
    frame_length=SETTINGS.mel_n_fft,
    hop_length=SETTINGS.mel_hop,
    resolution=SETTINGS.pyin_resolution,
)
PERCEPIANO = ("Schubert_D960_mv2_8bars_8_08", "Beethoven_WoO80_thema_8bars_11_1")
MAX_BLOCKS = 14  # per recording, to keep the run short


def device_blocks(y: np.ndarray, limit: int = MAX_BLOCKS) -> list[np.ndarray]:
    """Whole blocks as the device scores them: each with the previous block's last frame_length - hop samples."""
    size, context = block_samples(SETTINGS), context_samples(SETTINGS)
    padded = np.concatenate([np.zeros(context, dtype=y.dtype), y])
    return [padded[i * size : (i + 1) * size + context] for i in range(min(len(y) // size, limit))]


def agreement(blocks: list[np.ndarray]) -> dict:
    """Both pYINs over every block: frames, flag agreement and the largest f0 / voiced_prob differences."""
    frames = same_flag = voiced = 0
    f0_rel = prob_abs = 0.0
    for block in blocks:
        ref_f0, ref_flag, ref_prob = librosa.pyin(block, center=False, **KWARGS)
        f0, flag, prob = pyin(block, **KWARGS)
        assert f0.shape == flag.shape == prob.shape == ref_f0.shape == (100,)
        assert f0.dtype == ref_f0.dtype and flag.dtype == ref_flag.dtype and prob.dtype == ref_prob.dtype
        both = flag & ref_flag
        assert np.isnan(f0[~flag]).all()
        frames += len(flag)
        same_flag += int(np.count_nonzero(flag == ref_flag))
        voiced += int(np.count_nonzero(both))
        if both.any():
            f0_rel = max(f0_rel, float(np.max(np.abs(f0[both] - ref_f0[both]) / ref_f0[both])))
        prob_abs = max(prob_abs, float(np.max(np.abs(prob - ref_prob))))
    return {"frames": frames, "same_flag": same_flag / frames, "voiced": voiced, "f0_rel": f0_rel, "prob_abs": prob_abs}


def assert_agrees(stats: dict, min_voiced: int = 0) -> None:
    assert stats["same_flag"] >= 0.995, stats
    assert stats["f0_rel"] <= 1e-6, stats
    assert stats["prob_abs"] <= 1e-6, stats
    assert stats["voiced"] >= min_voiced, stats


def rendered(midi, folder) -> np.ndarray:
    from pianocoach.inputs.files import read_audio
    from pianocoach.render import render_midi

    audio, rate = read_audio(render_midi(midi, folder / "render.wav"))
    return resample(audio, rate, SETTINGS)


@pytest.fixture(scope="module", params=PERCEPIANO)
def percepiano_audio(request, tmp_path_factory) -> np.ndarray:
    from pianocoach_train.paths import percepiano_root

    midi = percepiano_root() / "midi" / f"{request.param}.mid"
    if not midi.is_file():
        pytest.skip(f"PercePiano not found ({midi}): set PIANOCOACH_PERCEPIANO")
    return rendered(midi, tmp_path_factory.mktemp("percepiano"))


@pytest.fixture(scope="module")
def sample_piece_audio(tmp_path_factory) -> np.ndarray:
    """The device tests' performance: 16 s of melody over broken chords with pedal, rendered by FluidSynth."""
    from pianocoach.sample_piece import write_sample_piece

    folder = tmp_path_factory.mktemp("performance")
    return rendered(write_sample_piece(folder / "performance.mid", seconds=16), folder)


def test_the_device_parameters_give_100_frames_and_122_states():
    assert KWARGS["fmin"] == float(librosa.midi_to_hz(SETTINGS.pyin_note_min))
    assert KWARGS["fmax"] == float(librosa.midi_to_hz(SETTINGS.pyin_note_max))
    block = device_blocks(np.zeros(3 * block_samples(SETTINGS), dtype=np.float32))[0]
    assert len(block) == 45_707
    f0, flag, prob = pyin(block, **KWARGS)
    assert len(f0) == 100 and not flag.any() and (prob == 0).all()


def test_a_percepiano_render_agrees_with_librosa(percepiano_audio):
    assert percepiano_audio.dtype == np.float32
    assert_agrees(agreement(device_blocks(percepiano_audio)), min_voiced=100)


def test_the_sample_piece_render_agrees_with_librosa(sample_piece_audio):
    assert_agrees(agreement(device_blocks(sample_piece_audio)), min_voiced=100)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_sine_sweep_with_noise_agrees_with_librosa(dtype):
    sr, seconds = SETTINGS.sample_rate, 8.0
    t = np.arange(int(seconds * sr)) / sr
    low, high = 55.0, 2400.0  # past both ends of C2..C7
    phase = 2 * np.pi * low * seconds / np.log(high / low) * (np.exp(t / seconds * np.log(high / low)) - 1)
    rng = np.random.default_rng(7)
    y = (0.3 * np.sin(phase) + 0.02 * rng.standard_normal(len(t))).astype(dtype)
    assert_agrees(agreement(device_blocks(y)), min_voiced=100)


def test_silence_and_a_click_agree_with_librosa():
    size = block_samples(SETTINGS) + context_samples(SETTINGS)
    silence = np.zeros(size, dtype=np.float32)
    click = silence.copy()
    click[size // 2] = 1.0
    early_click = silence.copy()
    early_click[0] = -0.5
    stats = agreement([silence, click, early_click])
    assert stats["same_flag"] == 1.0 and stats["prob_abs"] == 0.0, stats
    assert not pyin(click, **KWARGS)[1].any()


def test_the_beta_cdf_helper_equals_scipy():
    thresholds = np.linspace(0, 1, 101)
    ours, theirs = beta_cdf(thresholds, 2, 18), scipy.stats.beta.cdf(thresholds, 2, 18)
    assert np.max(np.abs(ours - theirs)) <= 1e-12
    np.testing.assert_array_equal(np.diff(ours) == 0, np.diff(theirs) == 0)  # the same exactly-empty bins
    x = np.linspace(0, 1, 257)
    for a, b in [(1, 1), (3, 5), (5, 2), (4, 30)]:
        assert np.max(np.abs(beta_cdf(x, a, b) - scipy.stats.beta.cdf(x, a, b))) <= 1e-12


@pytest.mark.parametrize("frame_length", [256, 1024, 2048])
def test_the_float32_autocorrelation_is_scipys_to_the_bit(frame_length):
    rng = np.random.default_rng(frame_length)
    frames = (0.2 * rng.standard_normal((frame_length, 37))).astype(np.float32)
    n_pad = scipy.fft.next_fast_len(2 * frame_length - 1, real=True)
    for max_size in (frame_length // 8, frame_length):
        ours = _autocorrelate_f32(frames, n_pad, max_size)
        np.testing.assert_array_equal(ours, librosa.autocorrelate(frames, max_size=max_size, axis=-2))


def test_the_port_runs_with_scipy_librosa_and_numba_unimportable():
    import subprocess
    import sys

    import pianocoach.features.pitch as module

    script = f"""
import importlib.abc, importlib.util, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {{"scipy", "librosa", "numba", "llvmlite"}}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import numpy as np
spec = importlib.util.spec_from_file_location("pitch", {module.__file__!r})
pitch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pitch)
y = np.sin(2 * np.pi * 440.0 * np.arange(45707) / 22050).astype(np.float32)
f0, flag, prob = pitch.pyin(y, sr=22050, fmin=pitch.midi_to_hz(36), fmax=pitch.midi_to_hz(96), frame_length=2048,
                            hop_length=441, resolution=1.0)
assert flag.all() and np.allclose(f0, 440.0), f0
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
