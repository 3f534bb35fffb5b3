"""Probabilistic YIN (pYIN) in plain numpy: a port of ``librosa.pyin`` from librosa 0.11.0.

What it covers: the call the device makes,
``librosa.pyin(y, fmin=..., fmax=..., sr=..., frame_length=..., hop_length=..., center=False,
resolution=...)`` on 1-D float audio, with every other argument at librosa's default (100 thresholds,
Beta(2, 18) threshold prior, Boltzmann parameter 2, 35.92 octaves/s transition rate, switch and no-trough
probabilities 0.01, NaN for unvoiced f0). Each step follows librosa's code (framing, the autocorrelation,
the cumulative mean normalised difference, parabolic interpolation, trough probabilities, the local
transition matrix and Viterbi decoding) in the same floating-point operations, order and dtypes, so that the
device needs neither librosa nor numba, llvmlite or scipy, and gets the same numbers: on float32 audio with a
power-of-two FFT length (frame_length 2048 pads to 4096) the result equals librosa's to the last bit on the
platforms tested. librosa's per-frame loop in ``__pyin_helper`` runs here vectorised over all frames, and
Viterbi takes one whole-matrix numpy step per frame.

The three places where librosa leans on scipy are reproduced, not approximated:

* The autocorrelation. librosa uses scipy.fft, whose pocketfft computes float32 input in float32, while
  numpy.fft computes it in float64; the two differ by ~1e-6, enough to move a YIN trough now and then. So
  this module carries a numpy port of pocketfft's real FFTPACK passes (radf4/radf2, radb4/radb2) that repeats
  their float32 arithmetic operation for operation. Other FFT lengths (and float64 audio, where numpy.fft and
  scipy.fft agree exactly) use numpy.fft.
* The Beta(2, 18) threshold prior: scipy.stats.beta.cdf is Boost.Math's ibeta, which for integer parameters
  is a finite binomial sum; the same sum in the same order is below (after Boost's binomial_ccdf, Boost
  Software License 1.0).
* scipy.stats.boltzmann.pmf and scipy.signal.get_window("triangle"): closed forms, same arithmetic.

librosa, from which this is ported, is under the ISC licence:

    Copyright (c) 2013--2023, librosa development team.

    Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is
    hereby granted, provided that the above copyright notice and this permission notice appear in all copies.

    THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE
    INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE
    FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS
    OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING
    OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

The FFT passes are ported from pocketfft (as vendored by scipy), under the BSD 3-clause licence:

    Copyright (C) 2010-2019 Max-Planck-Society
    All rights reserved.

    Redistribution and use in source and binary forms, with or without modification, are permitted provided
    that the following conditions are met:

    * Redistributions of source code must retain the above copyright notice, this list of conditions and the
      following disclaimer.
    * Redistributions in binary form must reproduce the above copyright notice, this list of conditions and
      the following disclaimer in the documentation and/or other materials provided with the distribution.
    * Neither the name of the copyright holder nor the names of its contributors may be used to endorse or
      promote products derived from this software without specific prior written permission.

    THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR IMPLIED
    WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A
    PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY
    DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO,
    PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION)
    HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING
    NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
    POSSIBILITY OF SUCH DAMAGE.

The binomial sum of the Beta prior follows Boost.Math's binomial_ccdf, under the Boost Software License 1.0:

    Boost Software License - Version 1.0 - August 17th, 2003

    Permission is hereby granted, free of charge, to any person or organization obtaining a copy of the software
    and accompanying documentation covered by this license (the "Software") to use, reproduce, display,
    distribute, execute, and transmit the Software, and to prepare derivative works of the Software, and to
    permit third-parties to whom the Software is furnished to do so, all subject to the following:

    The copyright notices in the Software and this entire statement, including the above license grant, this
    restriction and the following disclaimer, must be included in all copies of the Software, in whole or in
    part, and all derivative works of the Software, unless such copies or derivative works are solely in the
    form of machine-executable object code generated by a source language processor.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED
    TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE, TITLE AND NON-INFRINGEMENT. IN NO
    EVENT SHALL THE COPYRIGHT HOLDERS OR ANYONE DISTRIBUTING THE SOFTWARE BE LIABLE FOR ANY DAMAGES OR OTHER
    LIABILITY, WHETHER IN CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE
    OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np

from pianocoach.features.spectrum import next_fast_len_real

log = logging.getLogger(__name__)

N_THRESHOLDS = 100
BETA_PARAMETERS = (2, 18)
BOLTZMANN_PARAMETER = 2
MAX_TRANSITION_RATE = 35.92  # octaves per second
SWITCH_PROB = 0.01
NO_TROUGH_PROB = 0.01
_FFT_FRAMES = 32  # frames per autocorrelation chunk


def midi_to_hz(note: float) -> float:
    """librosa.midi_to_hz for one note, the same arithmetic: 440 * 2^((note - 69) / 12)."""
    return 440.0 * (2.0 ** ((float(note) - 69.0) / 12.0))


def _binomial_ccdf(n: float, k: float, x: float, y: float) -> float:
    """Boost.Math's binomial_ccdf: sum_{i=k+1}^{n} C(n, i) x^i y^(n-i), summed downwards from i = n."""
    result = math.pow(x, n)
    if result > np.finfo(np.float64).tiny:
        term = result
        for i in range(int(n - 1), int(k), -1):
            term *= ((i + 1) * y) / ((n - i) * x)
            result += term
        return result
    # the first term underflows (x below ~1e-16; Boost then starts at the mode): plain terms, which pyin's
    # thresholds never need
    return math.fsum(math.comb(int(n), i) * x**i * y ** (int(n) - i) for i in range(int(k) + 1, int(n) + 1))


def beta_cdf(x: np.ndarray, a: int, b: int) -> np.ndarray:
    """CDF of Beta(a, b) for positive integer a, b, computed the way scipy.stats.beta.cdf does it (Boost.Math's
    ibeta, which for integer parameters is a finite binomial sum): I_x(a, b) = P(Binomial(a+b-1, x) >= a),
    summed on whichever side of the mean a/(a+b) x lies, the other side as its complement."""
    if int(a) != a or int(b) != b or a < 1 or b < 1:
        raise ValueError(f"beta_cdf needs positive integer parameters, got a={a}, b={b}")
    values = np.asarray(x, dtype=np.float64)
    out = np.empty(values.shape, dtype=np.float64)
    for index, item in np.ndenumerate(values):
        value = float(item)
        if not 0.0 <= value <= 1.0:
            out[index] = np.nan
            continue
        if value in (0.0, 1.0):
            out[index] = value
            continue
        p, q, u, v, invert = float(a), float(b), value, 1 - value, False
        lam = p - (p + q) * u if p < q else (p + q) * v - q
        if lam < 0:
            p, q, u, v, invert = q, p, v, u, True
        fract = _binomial_ccdf(q + p - 1, p - 1, u, v)
        out[index] = 1 - fract if invert else fract
    return out


def _triangle(width: int) -> np.ndarray:
    """scipy.signal.get_window("triangle", width, fftbins=False), i.e. scipy.signal.windows.triang(width)."""
    if width <= 1:
        return np.ones(width, dtype=np.float64)
    n = np.arange(1, (width + 1) // 2 + 1, dtype=np.float64)
    if width % 2 == 0:
        w = (2 * n - 1.0) / width
        return np.concatenate([w, w[::-1]])
    w = 2 * n / (width + 1.0)
    return np.concatenate([w, w[-2::-1]])


def _transition_local(n_states: int, width: int) -> np.ndarray:
    """librosa.sequence.transition_local(n_states, width, window="triangle", wrap=False)."""
    transition = np.zeros((n_states, n_states), dtype=np.float64)
    window = _triangle(width)
    left = (n_states - width) // 2  # librosa.util.pad_center
    row = np.zeros(n_states, dtype=np.float64)
    row[left : left + width] = window
    for i in range(n_states):
        trans_row = np.roll(row, n_states // 2 + i + 1)
        trans_row[min(n_states, i + width // 2 + 1) :] = 0
        trans_row[: max(0, i - width // 2)] = 0
        transition[i] = trans_row
    transition /= transition.sum(axis=1, keepdims=True)
    return transition


@lru_cache(maxsize=8)
def _model(sr: int, fmin: float, fmax: float, frame_length: int, hop_length: int, resolution: float) -> dict:
    """Everything that depends only on the parameters: periods, threshold prior, pitch grid, log transitions."""
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)
    thresholds = np.linspace(0, 1, N_THRESHOLDS + 1)
    beta_probs = np.diff(beta_cdf(thresholds, *BETA_PARAMETERS))
    # np.sum of each prefix, as librosa sums beta_probs[:n] per frame (pairwise summation, not a cumsum)
    prefix_sums = np.array([np.sum(beta_probs[:n]) for n in range(N_THRESHOLDS + 1)])
    n_bins_per_semitone = int(np.ceil(1.0 / resolution))
    n_pitch_bins = int(np.floor(12 * n_bins_per_semitone * np.log2(fmax / fmin))) + 1
    max_semitones_per_frame = round(MAX_TRANSITION_RATE * 12 * hop_length / sr)
    transition_width = max_semitones_per_frame * n_bins_per_semitone + 1
    transition = _transition_local(n_pitch_bins, transition_width)
    t_switch = np.empty((2, 2), dtype=np.float64)  # librosa.sequence.transition_loop(2, 1 - switch_prob)
    t_switch[:] = (1.0 - (1 - SWITCH_PROB)) / (2 - 1)
    np.fill_diagonal(t_switch, 1 - SWITCH_PROB)
    transition = np.kron(t_switch, transition)
    n_states = 2 * n_pitch_bins
    p_init = np.ones(n_states) / n_states
    epsilon = np.finfo(np.float64).tiny  # librosa.util.tiny of the (float64) observation probabilities
    # scipy.stats.boltzmann.pmf(k, lambda, N) = (1 - e^-lambda) / (1 - e^(-lambda N)) * e^(-lambda k), its
    # integer arguments as in librosa; the N = 0 entry is never used
    lam, counts = BOLTZMANN_PARAMETER, np.arange(max_period - min_period + 2)
    with np.errstate(divide="ignore"):
        boltzmann_fact = np.where(counts > 0, (1 - np.exp(-lam)) / (1 - np.exp(-lam * counts)), 0.0)
    return {
        "boltzmann_fact": boltzmann_fact,
        "boltzmann_exp": np.exp(-lam * counts),
        "min_period": min_period,
        "max_period": max_period,
        "thresholds": thresholds,
        "beta_probs": beta_probs,
        "prefix_sums": prefix_sums,
        "n_bins_per_semitone": n_bins_per_semitone,
        "n_pitch_bins": n_pitch_bins,
        # log_trans_t[j, k] = log P(k -> j): a contiguous row per destination state
        "log_trans_t": np.ascontiguousarray(np.log(transition + epsilon).T),
        "log_p_init": np.log(p_init + epsilon),
        "freqs": fmin * 2 ** (np.arange(n_pitch_bins) / (12 * n_bins_per_semitone)),
        "n_pad": next_fast_len_real(2 * frame_length - 1),
    }


def _rfftp_factors(n: int) -> list[int] | None:
    """pocketfft rfftp::factorize for lengths 2^k (4s, and a 2 moved to the front); None otherwise."""
    factors = []
    while n % 4 == 0:
        factors.append(4)
        n //= 4
    if n % 2 == 0:
        n //= 2
        factors.append(2)
        factors[0], factors[-1] = factors[-1], factors[0]
    return factors if n == 1 and factors else None


@lru_cache(maxsize=4)
def _rfftp_plan(n: int) -> tuple[list[int], list[tuple[np.ndarray, np.ndarray] | None]] | None:
    """Factors and float32 twiddles per pass: cos and sin of 2 pi j l1 i / n, shaped (ip - 1, (ido - 1) // 2, 1, 1).
    pocketfft works them out in double precision and rounds to float, as here; the test suite checks the
    whole transform against scipy.fft bit for bit."""
    factors = _rfftp_factors(n)
    if factors is None:
        return None
    twiddles: list[tuple[np.ndarray, np.ndarray] | None] = []
    l1 = 1
    for k, ip in enumerate(factors):
        ido = n // (l1 * ip)
        half = (ido - 1) // 2
        if k < len(factors) - 1 and half > 0:
            m = np.arange(1, ip)[:, None] * l1 * np.arange(1, half + 1)[None, :]
            angle = 2 * np.pi * m / n
            twiddles.append(
                (np.cos(angle).astype(np.float32)[..., None, None], np.sin(angle).astype(np.float32)[..., None, None])
            )
        else:
            twiddles.append(None)
        l1 *= ip
    return factors, twiddles


# pocketfft's constants, rounded to float32 as its float plans hold them
_HSQT2 = np.float32(0.707106781186547524400844362104849)
_SQRT2 = np.float32(1.414213562373095048801688724209698)


# The passes keep pocketfft's arithmetic but not its memory layout. With frames as the last axis, a forward
# pass reads CC(i, k, j) from an (ido, 4, l1, frames) array and writes CH(i, j, k) to a (4, ido, l1, frames)
# one, which is already the next pass's (4 ido, 4, l1 / 4, frames) input; the backward passes mirror this.
# Every slice then runs contiguously over l1 * frames values, which numpy handles much faster than FFTPACK's
# layout. The transforms still start and end in FFTPACK's order (there l1 = 1 and the two layouts agree).


def _radf4(ido: int, l1: int, data: np.ndarray, tw: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """pocketfft radf4."""
    cc = data.reshape(ido, 4, l1, -1)  # CC(i, k, j) = cc[i, j, k]
    ch = np.empty((4, ido) + cc.shape[2:], dtype=data.dtype)  # CH(i, j, k) = ch[j, i, k]
    c0, c1, c2, c3 = cc[0]
    tr1 = c3 + c1
    np.subtract(c3, c1, out=ch[2, 0])
    tr2 = c0 + c2
    np.subtract(c0, c2, out=ch[1, ido - 1])
    np.add(tr2, tr1, out=ch[0, 0])
    np.subtract(tr2, tr1, out=ch[3, ido - 1])
    if ido % 2 == 0:
        e0, e1, e2, e3 = cc[ido - 1]
        ti1 = -_HSQT2 * (e1 + e3)
        tr1 = _HSQT2 * (e1 - e3)
        np.add(e0, tr1, out=ch[0, ido - 1])
        np.subtract(e0, tr1, out=ch[2, ido - 1])
        np.add(ti1, e2, out=ch[3, 0])
        np.subtract(ti1, e2, out=ch[1, 0])
    if ido > 2 and tw is not None:
        wr, wi = tw
        re, im = slice(1, ido - 2, 2), slice(2, ido - 1, 2)  # i-1 and i for i = 2, 4, ..., ido-2
        rre, rim = slice(ido - 3, 0, -2), slice(ido - 2, 1, -2)  # ic-1 and ic for ic = ido-i

        def mulpm(x: int) -> tuple[np.ndarray, np.ndarray]:  # conj(WA(x-1)) * CC(., k, x)
            a, b = cc[re, x], cc[im, x]
            cr, ci, tmp = wr[x - 1] * a, wr[x - 1] * b, wi[x - 1] * b
            cr += tmp
            ci -= np.multiply(wi[x - 1], a, out=tmp)
            return cr, ci

        cr2, ci2 = mulpm(1)
        cr3, ci3 = mulpm(2)
        cr4, ci4 = mulpm(3)
        tr1, tr4 = cr4 + cr2, cr4 - cr2
        ti1, ti4 = ci2 + ci4, ci2 - ci4
        a0, b0 = cc[re, 0], cc[im, 0]
        tr2, tr3 = a0 + cr3, a0 - cr3
        ti2, ti3 = b0 + ci3, b0 - ci3
        np.add(tr2, tr1, out=ch[0, re])
        np.subtract(tr2, tr1, out=ch[3, rre])
        np.add(ti1, ti2, out=ch[0, im])
        np.subtract(ti1, ti2, out=ch[3, rim])
        np.add(tr3, ti4, out=ch[2, re])
        np.subtract(tr3, ti4, out=ch[1, rre])
        np.add(tr4, ti3, out=ch[2, im])
        np.subtract(tr4, ti3, out=ch[1, rim])
    return ch


def _radf2(ido: int, l1: int, data: np.ndarray, tw: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """pocketfft radf2, laid out as _radf4."""
    cc = data.reshape(ido, 2, l1, -1)
    ch = np.empty((2, ido) + cc.shape[2:], dtype=data.dtype)
    np.add(cc[0, 0], cc[0, 1], out=ch[0, 0])
    np.subtract(cc[0, 0], cc[0, 1], out=ch[1, ido - 1])
    if ido % 2 == 0:
        np.negative(cc[ido - 1, 1], out=ch[1, 0])
        ch[0, ido - 1] = cc[ido - 1, 0]
    if ido > 2 and tw is not None:
        wr, wi = tw
        re, im = slice(1, ido - 2, 2), slice(2, ido - 1, 2)
        rre, rim = slice(ido - 3, 0, -2), slice(ido - 2, 1, -2)
        a, b = cc[re, 1], cc[im, 1]
        tr2 = wr[0] * a + wi[0] * b
        ti2 = wr[0] * b - wi[0] * a
        np.add(cc[re, 0], tr2, out=ch[0, re])
        np.subtract(cc[re, 0], tr2, out=ch[1, rre])
        np.add(ti2, cc[im, 0], out=ch[0, im])
        np.subtract(ti2, cc[im, 0], out=ch[1, rim])
    return ch


def _radb4(ido: int, l1: int, data: np.ndarray, tw: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """pocketfft radb4."""
    cc = data.reshape(4, ido, l1, -1)  # CC(i, j, k) = cc[j, i, k]
    ch = np.empty((ido, 4) + cc.shape[2:], dtype=data.dtype)  # CH(i, k, j) = ch[i, j, k]
    a0, e3 = cc[0, 0], cc[3, ido - 1]
    tr2, tr1 = a0 + e3, a0 - e3
    tr3 = 2 * cc[1, ido - 1]
    tr4 = 2 * cc[2, 0]
    np.add(tr2, tr3, out=ch[0, 0])
    np.subtract(tr2, tr3, out=ch[0, 2])
    np.add(tr1, tr4, out=ch[0, 3])
    np.subtract(tr1, tr4, out=ch[0, 1])
    if ido % 2 == 0:
        ti1, ti2 = cc[3, 0] + cc[1, 0], cc[3, 0] - cc[1, 0]
        tr2, tr1 = cc[0, ido - 1] + cc[2, ido - 1], cc[0, ido - 1] - cc[2, ido - 1]
        np.add(tr2, tr2, out=ch[ido - 1, 0])
        np.multiply(_SQRT2, tr1 - ti1, out=ch[ido - 1, 1])
        np.add(ti2, ti2, out=ch[ido - 1, 2])
        np.multiply(-_SQRT2, tr1 + ti1, out=ch[ido - 1, 3])
    if ido > 2 and tw is not None:
        wr, wi = tw
        re, im = slice(1, ido - 2, 2), slice(2, ido - 1, 2)
        rre, rim = slice(ido - 3, 0, -2), slice(ido - 2, 1, -2)
        tr2, tr1 = cc[0, re] + cc[3, rre], cc[0, re] - cc[3, rre]
        ti1, ti2 = cc[0, im] + cc[3, rim], cc[0, im] - cc[3, rim]
        tr4, ti3 = cc[2, im] + cc[1, rim], cc[2, im] - cc[1, rim]
        tr3, ti4 = cc[2, re] + cc[1, rre], cc[2, re] - cc[1, rre]
        np.add(tr2, tr3, out=ch[re, 0])
        cr3 = tr2 - tr3
        np.add(ti2, ti3, out=ch[im, 0])
        ci3 = ti2 - ti3
        cr4, cr2 = tr1 + tr4, tr1 - tr4
        ci2, ci4 = ti1 + ti4, ti1 - ti4
        tmp = np.empty_like(cr2)
        for x, (ci, cr) in enumerate(((ci2, cr2), (ci3, cr3), (ci4, cr4)), start=1):  # WA(x-1) * (cr + i ci)
            np.multiply(wr[x - 1], ci, out=ch[im, x])
            ch[im, x] += np.multiply(wi[x - 1], cr, out=tmp)
            np.multiply(wr[x - 1], cr, out=ch[re, x])
            ch[re, x] -= np.multiply(wi[x - 1], ci, out=tmp)
    return ch


def _radb2(ido: int, l1: int, data: np.ndarray, tw: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """pocketfft radb2, laid out as _radb4."""
    cc = data.reshape(2, ido, l1, -1)
    ch = np.empty((ido, 2) + cc.shape[2:], dtype=data.dtype)
    np.add(cc[0, 0], cc[1, ido - 1], out=ch[0, 0])
    np.subtract(cc[0, 0], cc[1, ido - 1], out=ch[0, 1])
    if ido % 2 == 0:
        np.multiply(2, cc[0, ido - 1], out=ch[ido - 1, 0])
        np.multiply(-2, cc[1, 0], out=ch[ido - 1, 1])
    if ido > 2 and tw is not None:
        wr, wi = tw
        re, im = slice(1, ido - 2, 2), slice(2, ido - 1, 2)
        rre, rim = slice(ido - 3, 0, -2), slice(ido - 2, 1, -2)
        np.add(cc[0, re], cc[1, rre], out=ch[re, 0])
        tr2 = cc[0, re] - cc[1, rre]
        ti2 = cc[0, im] + cc[1, rim]
        np.subtract(cc[0, im], cc[1, rim], out=ch[im, 0])
        np.add(wr[0] * ti2, wi[0] * tr2, out=ch[im, 1])
        np.subtract(wr[0] * tr2, wi[0] * ti2, out=ch[re, 1])
    return ch


def _radb4_real_first(ido: int, data: np.ndarray, tw: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """_radb4(ido, 1, data, tw) for a first pass whose input has zero imaginary parts (a power spectrum):
    the terms that are sums of zeros are left out. That gives the same values (x + 0 = x, w * 0 + y = y);
    at most the sign of a zero result can differ, which no later sum, product or comparison can see."""
    cc = data.reshape(4, ido, 1, -1)
    ch = np.empty((ido, 4) + cc.shape[2:], dtype=data.dtype)
    a0, e3 = cc[0, 0], cc[3, ido - 1]
    tr2, tr1 = a0 + e3, a0 - e3
    tr3 = 2 * cc[1, ido - 1]
    np.add(tr2, tr3, out=ch[0, 0])
    np.subtract(tr2, tr3, out=ch[0, 2])
    ch[0, 3] = tr1  # tr1 + tr4, tr4 = 2 * CC(0, 2, k) = 0
    ch[0, 1] = tr1
    tr2, tr1 = cc[0, ido - 1] + cc[2, ido - 1], cc[0, ido - 1] - cc[2, ido - 1]  # ti1 = ti2 = 0
    np.add(tr2, tr2, out=ch[ido - 1, 0])
    np.multiply(_SQRT2, tr1, out=ch[ido - 1, 1])
    ch[ido - 1, 2] = 0
    np.multiply(-_SQRT2, tr1, out=ch[ido - 1, 3])
    wr, wi = tw
    re, im = slice(1, ido - 2, 2), slice(2, ido - 1, 2)
    rre = slice(ido - 3, 0, -2)
    tr2, tr1 = cc[0, re] + cc[3, rre], cc[0, re] - cc[3, rre]  # ti1 = ti2 = tr4 = ti3 = 0
    tr3, ti4 = cc[2, re] + cc[1, rre], cc[2, re] - cc[1, rre]
    np.add(tr2, tr3, out=ch[re, 0])
    cr3 = tr2 - tr3
    ch[im, 0] = 0
    # cr2 = cr4 = tr1, ci2 = ti4, ci3 = 0, ci4 = -ti4
    np.add(wr[0] * ti4, wi[0] * tr1, out=ch[im, 1])
    np.subtract(wr[0] * tr1, wi[0] * ti4, out=ch[re, 1])
    np.multiply(wi[1], cr3, out=ch[im, 2])
    np.multiply(wr[1], cr3, out=ch[re, 2])
    np.subtract(wi[2] * tr1, wr[2] * ti4, out=ch[im, 3])
    np.add(wr[2] * tr1, wi[2] * ti4, out=ch[re, 3])
    return ch


def _autocorrelate_f32(frames: np.ndarray, n_pad: int, max_size: int) -> np.ndarray | None:
    """librosa.autocorrelate(frames, max_size, axis=-2) for float32 frames (frame_length, n_frames), as
    scipy.fft computes it: rfft, |.|^2 in float32, irfft scaled by 1/n. None when n_pad is not 2^k."""
    plan = _rfftp_plan(n_pad)
    if plan is None:
        return None
    factors, twiddles = plan
    length, n_frames = frames.shape
    l1 = n_pad
    if factors[-1] == 4 and length <= n_pad // 2:
        # the first forward pass (ido = 1) with the zero padding left out, as in _radb4_real_first:
        # CC(0, k, 2) = CC(0, k, 3) = 0
        l1 = n_pad // 4
        half = np.zeros((2 * l1, n_frames), dtype=np.float32)
        half[:length] = frames
        c0, c1 = half[:l1], half[l1:]
        data: np.ndarray = np.empty((4, 1, l1, n_frames), dtype=np.float32)
        np.add(c0, c1, out=data[0, 0])
        data[1, 0] = c0
        np.negative(c1, out=data[2, 0])
        np.subtract(c0, c1, out=data[3, 0])
        passes = range(len(factors) - 2, -1, -1)
    else:
        data = np.zeros((n_pad, n_frames), dtype=np.float32)
        data[:length] = frames
        passes = range(len(factors) - 1, -1, -1)
    for k in passes:  # rfftp::forward
        ido = n_pad // l1
        l1 //= factors[k]
        data = (_radf4 if factors[k] == 4 else _radf2)(ido, l1, data, twiddles[k])
    data = data.reshape(n_pad, -1)
    # data is FFTPACK half-complex: r0, r1, i1, r2, i2, ..., r_{n/2}; librosa.util.abs2 (re^2 + im^2, float32)
    # goes back in the same layout with zero imaginary parts, as scipy's c2r copies it
    power = np.zeros_like(data)
    power[0] = data[0] ** 2
    power[1:-1:2] = data[1:-1:2] ** 2 + data[2:-1:2] ** 2
    power[-1] = data[-1] ** 2
    l1 = 1
    for k, ip in enumerate(factors):  # rfftp::backward
        ido = n_pad // (ip * l1)
        if k == 0 and ip == 4 and ido > 2 and twiddles[0] is not None:
            power = _radb4_real_first(ido, power, twiddles[0])
        elif k == len(factors) - 1 and ip == 4 and max_size <= l1:
            # the last pass (ido = 1), only for the first max_size outputs: CH(0, k, 0), k < max_size
            cc = power.reshape(4, 1, l1, -1)[:, 0, :max_size]
            return ((cc[0] + cc[3]) + 2 * cc[1]) * np.float32(1.0 / n_pad)
        else:
            power = (_radb4 if ip == 4 else _radb2)(ido, l1, power, twiddles[k])
        l1 *= ip
    return power.reshape(n_pad, -1)[:max_size] * np.float32(1.0 / n_pad)


def _cumulative_mean_normalized_difference(
    frames: np.ndarray, min_period: int, max_period: int, n_pad: int
) -> np.ndarray:
    """librosa's _cumulative_mean_normalized_difference on frames (frame_length, n_frames);
    returns (max_period - min_period + 1, n_frames)."""
    acf = None
    if frames.dtype == np.float32 and _rfftp_plan(n_pad) is not None:
        # a few dozen frames at a time keep each pass's arrays in a core's cache (about 1.5x faster)
        chunks = np.array_split(np.arange(frames.shape[1]), max(1, -(-frames.shape[1] // _FFT_FRAMES)))
        acf = np.concatenate([_autocorrelate_f32(frames[:, chunk], n_pad, max_period + 1) for chunk in chunks], axis=1)
    if acf is None:
        if frames.dtype == np.float32:
            log.debug("FFT length %d is not a power of two: numpy.fft stands in for scipy.fft (~1e-6)", n_pad)
        spectrum = np.fft.rfft(frames, n=n_pad, axis=0)
        power = (spectrum.real**2 + spectrum.imag**2).astype(frames.dtype)
        acf = np.fft.irfft(power, n=n_pad, axis=0)[: max_period + 1].astype(frames.dtype)

    energy = np.square(frames)
    np.cumsum(energy, out=energy, axis=0)
    # librosa zeroes the first energy term before using it, so d(1) subtracts 0 rather than y[0]^2
    energy[0] = 0
    diff = np.empty_like(energy[: max_period + 1])
    diff[0] = 0
    diff[1:] = 2 * (acf[0:1] - acf[1 : max_period + 1]) - energy[:max_period]

    numerator = diff[min_period : max_period + 1]
    # the integer divisor promotes a float32 cumsum to float64, as in librosa
    cumulative_mean = np.cumsum(diff[1:], axis=0) / np.arange(1, max_period + 1)[:, None]
    denominator = cumulative_mean[min_period - 1 : max_period]
    return numerator / (denominator + np.finfo(denominator.dtype).tiny)


def _parabolic_shifts(yin: np.ndarray) -> np.ndarray:
    """librosa's _parabolic_interpolation along axis 0 (0 at both ends and where |b| >= |a|)."""
    x_prev, x_mid, x_next = yin[:-2], yin[1:-1], yin[2:]
    a = x_next + x_prev - 2 * x_mid
    b = (x_next - x_prev) / 2
    shifts = np.zeros_like(yin)
    with np.errstate(divide="ignore", invalid="ignore"):
        shifts[1:-1] = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a)
    return shifts


def _trough_probabilities(yin: np.ndarray, model: dict) -> np.ndarray:
    """librosa's __pyin_helper steps 2-5 for every frame at once: the probability mass on each YIN trough,
    laid out like yin (n_periods, n_frames)."""
    thresholds, beta_probs = model["thresholds"], model["beta_probs"]
    trough = np.zeros(yin.shape, dtype=bool)
    # librosa.util.localmin (strict on the left, non-strict on the right), its last-element rule, and
    # pyin's own first-element rule
    trough[1:-1] = (yin[1:-1] < yin[:-2]) & (yin[1:-1] <= yin[2:])
    trough[-1] = yin[-1] < yin[-2]
    trough[0] = yin[0] < yin[1]
    yin_probs = np.zeros_like(yin)
    frame, period = np.nonzero(trough.T)  # frame-major, periods ascending within a frame
    if len(frame) == 0:
        return yin_probs

    heights = yin[period, frame]
    below = np.less.outer(heights, thresholds[1:])  # (troughs, thresholds)
    new_frame = np.r_[True, frame[1:] != frame[:-1]]
    starts = np.flatnonzero(new_frame)
    group = np.cumsum(new_frame) - 1  # index of each trough's frame among the frames with troughs
    running = np.cumsum(below, axis=0)
    before = np.zeros((len(starts), below.shape[1]), dtype=running.dtype)
    before[1:] = running[starts[1:] - 1]
    positions = running - before[group] - 1  # rank of each trough among its frame's troughs below a threshold
    ends = np.r_[starts[1:], len(frame)] - 1
    n_troughs = (running[ends] - before)[group]

    # scipy.stats.boltzmann.pmf(k, lambda, N) from tables of its two factors (k, N < n_periods); it is only
    # needed where the trough is below the threshold (N >= 1, k >= 0)
    prior = np.where(below, model["boltzmann_fact"][n_troughs] * model["boltzmann_exp"][positions], 0.0)
    # one matrix-vector product per frame, shaped as librosa's, so that BLAS sums each row in the same order
    probs = np.empty(len(frame))
    for start, end in zip(starts, ends + 1):
        probs[start:end] = prior[start:end].dot(beta_probs)

    # each frame's global minimum (the first on ties, like np.argmin) gets the no-trough mass
    lowest = np.minimum.reduceat(heights, starts)
    candidates = np.flatnonzero(heights == lowest[group])
    first = candidates[np.r_[True, group[candidates][1:] != group[candidates][:-1]]]
    n_thresholds_below_min = np.count_nonzero(~below[first], axis=1)
    probs[first] += NO_TROUGH_PROB * model["prefix_sums"][n_thresholds_below_min]

    yin_probs[period, frame] = probs
    return yin_probs


def _viterbi(log_prob: np.ndarray, log_trans_t: np.ndarray, log_p_init: np.ndarray) -> np.ndarray:
    """librosa.sequence._viterbi with log_prob laid out (n_steps, n_states); ties go to the lowest state,
    as np.argmax does in librosa's numba loop."""
    n_steps, n_states = log_prob.shape
    ptr = np.zeros((n_steps, n_states), dtype=np.intp)
    columns = np.arange(n_states)
    value = log_prob[0] + log_p_init
    for t in range(1, n_steps):
        trans_out = value + log_trans_t  # [j, k] = V[t-1, k] + log P(k -> j)
        best = np.argmax(trans_out, axis=1)
        ptr[t] = best
        value = log_prob[t] + trans_out[columns, best]
    state = np.zeros(n_steps, dtype=np.intp)
    state[-1] = np.argmax(value)
    for t in range(n_steps - 2, -1, -1):
        state[t] = ptr[t + 1, state[t + 1]]
    return state


def pyin(
    samples: np.ndarray, *, sr: int, fmin: float, fmax: float, frame_length: int, hop_length: int, resolution: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``librosa.pyin(samples, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame_length,
    hop_length=hop_length, center=False, resolution=resolution)``: per frame, f0 in Hz (NaN when unvoiced),
    the voiced flag and the voiced probability. ``samples`` is a 1-D float array of at least
    ``frame_length`` samples; frame t starts at sample t * hop_length."""
    y = np.asarray(samples)
    if y.ndim != 1:
        raise ValueError(f"pyin takes 1-D audio, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError("audio must be floating-point")
    if y.dtype not in (np.float32, np.float64):
        y = y.astype(np.float32)  # other widths are not covered: computed as float32
    if not np.isfinite(y).all():
        raise ValueError("audio is not finite everywhere")
    if not 0 < fmin < fmax <= sr / 2:
        raise ValueError(f"need 0 < fmin < fmax <= sr/2, got fmin={fmin}, fmax={fmax}, sr={sr}")
    if sr / fmin >= frame_length - 1:
        raise ValueError(f"fmin={fmin:.3f} is too small for frame_length={frame_length} and sr={sr}")
    if len(y) < frame_length:
        raise ValueError(f"need at least frame_length={frame_length} samples, got {len(y)}")
    if sr / fmin >= frame_length // 2:
        log.debug("fewer than two periods of fmin=%.3f fit in a %d-sample frame", fmin, frame_length)

    model = _model(int(sr), float(fmin), float(fmax), int(frame_length), int(hop_length), float(resolution))
    min_period, n_pitch_bins = model["min_period"], model["n_pitch_bins"]
    n_bins_per_semitone = model["n_bins_per_semitone"]

    # librosa.util.frame: (frame_length, n_frames), frame t starting at sample t * hop_length
    frames = np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length].T
    yin = _cumulative_mean_normalized_difference(frames, min_period, model["max_period"], model["n_pad"])
    shifts = _parabolic_shifts(yin)
    yin_probs = _trough_probabilities(yin, model)
    n_frames = yin.shape[1]

    # As in librosa: only troughs with non-zero probability are candidates (np.nonzero), and np.nonzero's
    # period-major order decides which of two candidates landing in the same pitch bin of a frame wins the
    # fancy assignment below (the later one, i.e. the longer period), its probability replacing the other's
    yin_period, frame_index = np.nonzero(yin_probs)
    period_candidates = min_period + yin_period
    period_candidates = period_candidates + shifts[yin_period, frame_index]
    f0_candidates = sr / period_candidates
    bin_index = 12 * n_bins_per_semitone * np.log2(f0_candidates / fmin)
    # librosa clips to n_pitch_bins (not n_pitch_bins - 1): such a candidate lands on the first unvoiced
    # state and is then overwritten below
    bin_index = np.clip(np.round(bin_index), 0, n_pitch_bins).astype(int)

    observation_probs = np.zeros((2 * n_pitch_bins, n_frames))
    observation_probs[bin_index, frame_index] = yin_probs[yin_period, frame_index]
    voiced_prob = np.clip(np.sum(observation_probs[:n_pitch_bins, :], axis=0, keepdims=True), 0, 1)
    observation_probs[n_pitch_bins:, :] = (1 - voiced_prob) / n_pitch_bins

    log_prob = np.log(observation_probs.T + np.finfo(observation_probs.dtype).tiny)
    states = _viterbi(log_prob, model["log_trans_t"], model["log_p_init"])

    f0 = model["freqs"][states % n_pitch_bins]
    voiced_flag = states < n_pitch_bins
    f0[~voiced_flag] = np.nan
    return f0, voiced_flag, voiced_prob[0]
