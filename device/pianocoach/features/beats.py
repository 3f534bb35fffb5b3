"""Beat tracking in numpy alone: a port of librosa 0.11.0's dynamic-programming beat tracker
(``librosa.beat.beat_track``) and of the tempo estimator it calls (``librosa.feature.tempo``).

librosa is ISC-licensed (Copyright (c) 2013--2023, librosa development team). :func:`beat_track` returns
what ``librosa.beat.beat_track(onset_envelope=envelope, sr=sr, hop_length=hop_length, units="time")``
returns with every other argument at its default (start_bpm=120, tightness=100, trim=True, no prior,
sparse output; tempo from ``librosa.feature.tempo`` with std_bpm=1, ac_size=8 s, max_tempo=320 BPM and
the mean tempogram): the tempo in BPM and the beat times in seconds. ``tests/host/test_beats_port.py``
checks it against librosa, bit for bit.

How the port stays exact:
- the tempo estimate makes the same numpy computations as librosa (the same FFT of each frame, the same
  pairwise sum for the mean over frames); it only batches the FFTs differently, which is faster;
- librosa's beat tracker is numba code. Its transcendental functions (``np.exp``, ``np.log``) compile to
  the C library's ``exp``/``log``, which numpy's own SIMD versions do not always match to the last bit,
  so the few values they produce (the local-score window, the transition penalties) come from ``math``;
  its sums run in librosa's order (sequential, or as BLAS ``ddot`` adds them);
- librosa's dynamic program is a loop over frames in which frame ``i`` looks back to frames
  ``i - 2 * period .. i - round(period / 2)``. Every frame of a stretch shorter than the shortest
  look-back depends only on frames before the stretch, so the port computes a whole stretch at once
  (about 30 stretches for 8 s at 50 frames/s instead of 400 iterations of a Python loop).

Quirks of librosa's code that the port keeps on purpose are marked ``librosa quirk``.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pianocoach.features.spectrum import hann, next_fast_len_real

log = logging.getLogger(__name__)

# librosa.beat.beat_track / librosa.feature.tempo defaults
START_BPM = 120.0
STD_BPM = 1.0
AC_SIZE_S = 8.0
MAX_TEMPO_BPM = 320.0
# numba passes tightness to the dynamic program as float32 (100 is exact in float32)
TIGHTNESS = float(np.float32(100.0))
TEMPOGRAM_BLOCK = 32  # frames per FFT batch in the tempogram (speed only; any size gives the same values)
TRIM_WINDOW = np.array([0.0, 0.5, 1.0, 0.5, 0.0])  # numba's np.hanning(5), exactly these values

__all__ = ["beat_track", "tempo"]


def beat_track(envelope: np.ndarray, *, sr: int, hop_length: int) -> tuple[float, np.ndarray]:
    """(tempo in BPM, beat times in seconds) of an onset-strength ``envelope`` with ``sr / hop_length``
    frames a second: ``librosa.beat.beat_track(onset_envelope=envelope, sr=sr, hop_length=hop_length,
    units="time")`` with the tempo as a float (librosa returns a one-element array).

    As librosa: an envelope with no nonzero value gives (0.0, no beats). One nonzero value is enough for
    librosa to track (it then finds one beat, or none), and so it is here. The envelope must be 1-D,
    finite and at least 2 frames long (librosa raises for non-finite values and fails on one frame).
    """
    onsets = np.asarray(envelope)
    if onsets.ndim != 1:
        raise ValueError(f"the onset envelope must be 1-D, not of shape {onsets.shape}")
    if not onsets.any():
        return 0.0, np.zeros(0)
    if len(onsets) < 2:
        raise ValueError("the onset envelope must be at least 2 frames long")
    if not np.all(np.isfinite(onsets)):
        raise ValueError("the onset envelope must be finite")
    bpm = tempo(onsets, sr=sr, hop_length=hop_length)
    with np.errstate(over="ignore"):  # numba's IEEE arithmetic overflows to inf silently (a constant envelope)
        frames = _beat_frames(onsets, bpm, float(sr) / hop_length)
    # librosa.frames_to_time: frames -> integer samples -> seconds
    times = (frames * hop_length).astype(int) / float(sr)
    return bpm, times


def tempo(envelope: np.ndarray, *, sr: int, hop_length: int) -> float:
    """Global tempo in BPM: ``librosa.feature.tempo(onset_envelope=envelope, sr=sr, hop_length=hop_length)[0]``
    (the mean autocorrelation tempogram over 8 s windows, weighted by a log-normal prior around 120 BPM)."""
    onsets = np.asarray(envelope)
    # librosa.time_to_frames(ac_size): seconds -> integer samples -> frames
    win_length = int(np.floor(int(AC_SIZE_S * sr) // hop_length))
    tg = _mean_tempogram(onsets, win_length)
    bpms, logprior = _tempo_prior(win_length, hop_length, sr)
    best_period = np.argmax(np.log1p(1e6 * tg) + logprior, axis=-2)
    return float(np.take(bpms, best_period)[0])


# -- tempo: librosa.feature.tempogram(mode autocorrelation, center=True, window="hann", norm=inf) --------


def _mean_tempogram(onsets: np.ndarray, win_length: int) -> np.ndarray:
    """The autocorrelation tempogram [win_length lags, frames], each frame scaled to a maximum of 1,
    averaged over frames: ``np.mean(librosa.feature.tempogram(...), axis=-1, keepdims=True)``.

    librosa holds the tempogram as [lags, frames] and runs its FFTs along the lag axis, across memory,
    on the whole array at once. The port runs the same FFTs along rows of [frames, lags], TEMPOGRAM_BLOCK
    frames at a time so that the work stays in cache (about twice as fast); each frame's transform is
    the same computation as librosa's, so the values are the same. Only the mean needs librosa's layout
    (numpy sums a contiguous row pairwise), so the scaled frames are written into a [lags, frames] array.
    """
    n = onsets.shape[-1]
    half = int(win_length // 2)
    # center=True: pad with linear ramps from 0, then one frame of win_length per envelope frame
    padded = np.pad(onsets, [(half, half)], mode="linear_ramp", end_values=[0, 0])
    if len(padded) < win_length:
        raise ValueError(f"input is too short (n={len(padded)}) for frame_length={win_length}")
    frames = sliding_window_view(padded, win_length)[:n]
    window = hann(win_length)
    n_pad = next_fast_len_real(2 * win_length - 1)
    tempogram = np.empty((win_length, n))
    for start in range(0, n, TEMPOGRAM_BLOCK):
        stop = min(start + TEMPOGRAM_BLOCK, n)
        # librosa.autocorrelate: |rfft|^2 (util.abs2 in numba: re**2 + im**2, each square x * x), irfft
        spectrum = np.fft.rfft(frames[start:stop] * window, n=n_pad, axis=-1)
        parts = spectrum.view(np.float64)
        np.multiply(parts, parts, out=parts)
        autocorr = np.fft.irfft(parts[:, 0::2] + parts[:, 1::2], n=n_pad, axis=-1)[:, :win_length]
        # librosa.util.normalize(norm=inf): divide by the largest magnitude unless it is below tiny
        length = np.max(np.abs(autocorr), axis=-1, keepdims=True)
        if not np.all(np.isfinite(length)):  # librosa raises on a non-finite tempogram
            raise ValueError("the tempogram is not finite")
        length[length < _tiny(autocorr)] = 1.0
        np.divide(autocorr.T, length.T, out=tempogram[:, start:stop])
    return np.mean(tempogram, axis=-1, keepdims=True)


@lru_cache(maxsize=8)
def _tempo_prior(win_length: int, hop_length: int, sr: float) -> tuple[np.ndarray, np.ndarray]:
    """(BPM of each lag, log-normal log-prior [lags, 1] with every lag above max_tempo at -inf)."""
    # librosa.tempo_frequencies
    bpms = np.zeros(int(win_length), dtype=np.float64)
    bpms[0] = np.inf
    bpms[1:] = 60.0 * sr / (hop_length * np.arange(1.0, win_length))
    with np.errstate(invalid="ignore"):
        logprior = -0.5 * ((np.log2(bpms) - np.log2(START_BPM)) / STD_BPM) ** 2
    max_idx = int(np.argmax(bpms < MAX_TEMPO_BPM))
    logprior[:max_idx] = -np.inf
    logprior = logprior[:, None]
    bpms.flags.writeable = False
    logprior.flags.writeable = False
    return bpms, logprior


def _tiny(x: np.ndarray) -> np.floating:
    """librosa.util.tiny: the smallest normal number of x's float type (float32's for other types)."""
    dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else np.dtype(np.float32)
    return np.finfo(dtype).tiny


# -- beats: librosa.beat.__beat_tracker ------------------------------------------------------------------


def _beat_frames(onsets: np.ndarray, bpm: float, frame_rate: float) -> np.ndarray:
    """Frame indices of the beats (librosa's __beat_tracker with trim=True, then np.flatnonzero)."""
    if bpm <= 0:
        raise ValueError(f"bpm={bpm} must be strictly positive")
    frames_per_beat = float(np.round(frame_rate * 60.0 / bpm))
    # librosa.beat.__normalize_onsets: in the envelope's own dtype (float32 stays float32)
    normalized = onsets / (onsets.std(ddof=1, axis=-1, keepdims=True) + _tiny(onsets))
    localscore = _local_score(normalized.astype(np.float64), frames_per_beat)
    backlink, cumscore = _beat_dp(localscore, frames_per_beat, TIGHTNESS)
    beats = np.zeros(len(onsets), dtype=bool)
    n = _last_beat(cumscore)
    while n >= 0:
        beats[n] = True
        n = backlink[n]
    return np.flatnonzero(_trim_beats(localscore, beats))


@lru_cache(maxsize=16)
def _local_window(frames_per_beat: float) -> np.ndarray:
    """exp(-0.5 * (k * 32 / period)^2) for k = -period..period, with libm's exp as numba calls it."""
    k = np.arange(-frames_per_beat, frames_per_beat + 1)
    z = k * 32.0 / frames_per_beat
    arg = -0.5 * (z * z)
    window = np.array([math.exp(v) for v in arg.tolist()])
    window.flags.writeable = False
    return window


def _local_score(onsets: np.ndarray, frames_per_beat: float) -> np.ndarray:
    """librosa.beat.__beat_local_score (static tempo): a same-mode convolution with the Gaussian window,
    summed term by term in librosa's order (k = 0, 1, ..., K - 1 for every output frame)."""
    window = _local_window(frames_per_beat)
    size, half, n = len(window), len(window) // 2, len(onsets)
    # librosa quirk: its loop bound is min(i + K // 2, K) where same-mode convolution needs
    # min(i + K // 2 + 1, K), so onsets[0] never enters the local score. Zeroing it reproduces that.
    padded = np.zeros(n + 2 * half)
    padded[half + 1 : half + n] = onsets[1:]
    score = np.zeros(n)
    term = np.empty(n)
    for k in range(size):
        # output i, tap k reads onsets[i + half - k] = padded[i + 2 * half - k]; out-of-range taps add 0.0
        np.multiply(padded[2 * half - k : 2 * half - k + n], window[k], out=term)
        score += term
    return score


@lru_cache(maxsize=16)
def _dp_tables(frames_per_beat: float, tightness: float) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(shortest look-back, look-backs d, transition penalties per d, gather offsets [rows, d])."""
    # numba's np.round rounds half to even, as numpy's does
    shortest = int(np.round(frames_per_beat / 2))
    longest = int(2 * frames_per_beat)
    if shortest < 1:
        # librosa would then read the not yet computed score of the frame itself
        raise ValueError(f"{frames_per_beat} frames per beat is too few to track beats")
    lags = np.arange(shortest, longest + 1)
    log_period = math.log(frames_per_beat)
    # tightness * (log(i - loc) - log(period))**2, with libm's log as numba calls it; x**2 is x * x in numba
    penalty = np.array(
        [tightness * ((math.log(float(d)) - log_period) * (math.log(float(d)) - log_period)) for d in lags.tolist()]
    )
    # row r of a stretch starting at frame s looks back to frame s + r - d, stored at that index + longest
    offsets = np.arange(shortest)[:, None] - lags[None, :] + longest
    for array in (lags, penalty, offsets):
        array.flags.writeable = False
    return shortest, lags, penalty, offsets


def _beat_dp(localscore: np.ndarray, frames_per_beat: float, tightness: float) -> tuple[np.ndarray, np.ndarray]:
    """librosa.beat.__beat_track_dp: (backlink, cumulative score) per frame.

    librosa: for frame i, over loc = i - round(period / 2) down to i - 2 * period (stopping below 0),
    score = cumscore[loc] - tightness * (log(i - loc) - log(period))^2; the first strictly larger score
    wins (so among equal scores the latest loc); cumscore[i] = localscore[i] + best (or localscore[i]
    when no loc exists); backlink[i] = best loc, except -1 for every frame before the first whose local
    score reaches 1 % of the largest. Here a stretch of `shortest` frames is computed at once.
    """
    n = len(localscore)
    shortest, lags, penalty, offsets = _dp_tables(frames_per_beat, tightness)
    longest = int(lags[-1])
    # cumulative scores after `longest` slots of -inf that stand for frames before the first one
    # (a -inf score never beats librosa's initial best of -inf, just as a loc below 0 never enters)
    cum = np.empty(longest + n)
    cum[:longest] = -np.inf
    backlink = np.empty(n, dtype=np.int64)
    for start in range(0, n, shortest):
        stop = min(start + shortest, n)
        rows = stop - start
        scores = cum[offsets[:rows] + start] - penalty
        choice = np.argmax(scores, axis=1)  # the first maximum: the smallest look-back, as librosa
        best = scores[np.arange(rows), choice]
        found = best > -np.inf
        cum[longest + start : longest + stop] = np.where(found, localscore[start:stop] + best, localscore[start:stop])
        backlink[start:stop] = np.where(found, np.arange(start, stop) - lags[choice], -1)
    # librosa's first_beat flag: no backlink until the local score first reaches the threshold
    score_thresh = 0.01 * localscore.max()
    reached = np.flatnonzero(~(localscore < score_thresh))
    backlink[: reached[0] if len(reached) else n] = -1
    return backlink, cum[longest:]


def _last_beat(cumscore: np.ndarray) -> int:
    """librosa.beat.__last_beat: the last local maximum of the cumulative score that reaches half the
    median of all its local maxima (the last frame when there is none)."""
    n = len(cumscore)
    # librosa.util.localmax: x[i] > x[i-1] and x[i] >= x[i+1]; its numba stencil leaves frame 0 False,
    # and the last frame is a maximum when it exceeds the one before
    peaks = np.zeros(n, dtype=bool)
    peaks[1:-1] = (cumscore[1:-1] > cumscore[:-2]) & (cumscore[1:-1] >= cumscore[2:])
    peaks[-1] = cumscore[-1] > cumscore[-2]
    values = np.sort(cumscore[peaks])
    if len(values) == 0:
        return n - 1
    # numpy.ma.median: the middle value, or the sum of the two middle values halved
    half, odd = divmod(len(values), 2)
    median = values[half] if odd else (values[half - 1] + values[half]) / 2.0
    candidates = np.flatnonzero(peaks & (cumscore >= 0.5 * median))
    return int(candidates[-1]) if len(candidates) else n - 1


def _trim_beats(localscore: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """librosa.beat.__trim_beats (trim=True): drop the leading and trailing frames whose local score is at
    most half the RMS of the Hann-smoothed local scores at the beats."""
    n = len(localscore)
    smooth = _smooth_beat_scores(localscore[beats])
    # librosa quirk: the slice [2 : len(localscore) + 2] of the full convolution keeps its last two values
    smooth = smooth[2 : n + 2]
    # numba's mean sums in order; x**2 is x * x and x**0.5 becomes sqrt
    threshold = 0.5 * math.sqrt(float(np.add.accumulate(smooth * smooth)[-1]) / len(smooth))
    above = np.flatnonzero(localscore > threshold)
    trimmed = beats.copy()
    if len(above) == 0:
        # librosa's while loops then run off the ends of the array (undefined behaviour in numba) after
        # clearing every beat; no beat is the outcome it reaches when it does not crash
        log.debug("no local score above the trim threshold %g: no beats", threshold)
        trimmed[:] = False
        return trimmed
    trimmed[: above[0]] = False
    trimmed[above[-1] + 1 :] = False
    return trimmed


def _smooth_beat_scores(values: np.ndarray) -> np.ndarray:
    """np.convolve(values, np.hanning(5)) (full mode) as numba computes it: each output a BLAS ddot,
    summed from the first to the last term of the overlap. numba swaps the operands when fewer than 5
    values are given, which reverses the order of the sum."""
    width = len(TRIM_WINDOW)
    padded = np.concatenate([np.zeros(width - 1), values, np.zeros(width - 1)])
    count = len(values) + width - 1
    # out[p] = sum over j of values[p - j] * w[j], with values[q] = padded[q + width - 1]
    terms = [padded[width - 1 - j : width - 1 - j + count] * TRIM_WINDOW[j] for j in range(width)]
    if len(values) >= width:
        terms.reverse()  # ddot runs over values in increasing index: j from width - 1 down to 0
    total = terms[0].copy()
    for term in terms[1:]:
        total += term
    return total
