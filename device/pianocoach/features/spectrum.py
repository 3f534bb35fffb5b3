"""Short-time power spectrum and the mel filter bank in numpy alone.

The device computes its audio features without librosa: librosa brings numba and LLVM (about 250 MB
resident and minutes of JIT compiling after every install on a Pi). These two functions reproduce what
``librosa.stft(y, n_fft, hop_length, center=False)`` (periodic Hann window, float64 FFT stored as
complex64 for float32 input) and ``librosa.filters.mel(..., htk=False, norm="slaney")`` of librosa 0.11.0
compute (ISC licence); ``tests/host/test_feature_ports.py`` checks them against librosa.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FRAMES_PER_CHUNK = 256  # frames transformed at once: about 4 MB of float64 and 4 MB of complex128 temporaries

# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above (librosa's htk=False)
_MEL_HZ_PER_MEL = 200.0 / 3
_MEL_LOG_START_HZ = 1000.0
_MEL_LOG_START = _MEL_LOG_START_HZ / _MEL_HZ_PER_MEL
_MEL_LOG_STEP = np.log(6.4) / 27.0


@lru_cache(maxsize=8)
def hann(n: int) -> np.ndarray:
    """scipy.signal.get_window("hann", n, fftbins=True), the periodic Hann window librosa uses, computed as
    scipy's general_cosine does (a symmetric window of n + 1 points without its last): the textbook
    0.5 - 0.5 cos(2 pi k / n) differs from it in the last bit at half the points. Read-only (cached)."""
    fac = np.linspace(-np.pi, np.pi, n + 1)
    w = np.zeros(n + 1)
    w += 0.5 * np.cos(0 * fac)
    w += 0.5 * np.cos(1 * fac)
    w = w[:-1]
    w.flags.writeable = False
    return w


@lru_cache(maxsize=8)
def next_fast_len_real(target: int) -> int:
    """scipy.fft.next_fast_len(target, real=True): the smallest 2^a 3^b 5^c >= target."""
    best = 1
    while best < target:
        best *= 2
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p235 = p35
            while p235 < target:
                p235 *= 2
            best = min(best, p235)
            p35 *= 3
        p5 *= 5
    return best


def power_spectrogram(samples: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """|STFT|² [1 + n_fft // 2, frames] of frames ``n_fft`` long every ``hop_length`` samples from the first
    sample (no centring, no padding), float32."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if len(samples) < n_fft:
        return np.zeros((1 + n_fft // 2, 0), dtype=np.float32)
    frames = sliding_window_view(samples, n_fft)[::hop_length].T  # [n_fft, frames], as librosa.util.frame
    window = hann(n_fft)[:, None]
    power = np.empty((1 + n_fft // 2, frames.shape[1]), dtype=np.float32)
    for start in range(0, frames.shape[1], FRAMES_PER_CHUNK):  # bounded temporaries for a whole recording
        stop = start + FRAMES_PER_CHUNK
        # as librosa: the float64 window times the float32 frames in float64, transformed along axis 0,
        # stored as complex64, then |.|² in float32
        spectrum = np.fft.rfft(window * frames[:, start:stop], axis=0).astype(np.complex64)
        power[:, start:stop] = np.abs(spectrum) ** 2
    return power


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _MEL_HZ_PER_MEL
    with np.errstate(divide="ignore", invalid="ignore"):
        log = _MEL_LOG_START + np.log(hz / _MEL_LOG_START_HZ) / _MEL_LOG_STEP
    return np.where(hz >= _MEL_LOG_START_HZ, log, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _MEL_HZ_PER_MEL
    log = _MEL_LOG_START_HZ * np.exp(_MEL_LOG_STEP * (mel - _MEL_LOG_START))
    return np.where(mel >= _MEL_LOG_START, log, linear)


def mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-normalised triangular mel filters [n_mels, 1 + n_fft // 2], float32."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, fft_hz)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    # librosa fills a float32 array row by row, then scales it by the Slaney norm in place
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights
