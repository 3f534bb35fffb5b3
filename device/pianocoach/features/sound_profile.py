"""What a take sounds like, summed up in a few dozen numbers: the input of the "is this a piano?" check.

A piano note starts with a hammer strike (every band rises at once) and then decays steadily; an organ, a
bowed string or a wind instrument holds its level, speech rises and falls several times a second, noise
has a flat spectrum. :class:`SoundProfile` keeps running sums of such measures over the take, fed the
capture at the transcriber's 22,050 Hz in blocks of any size (its frames are counted from the first sample,
so how the input is cut does not change the numbers), in bounded memory whatever the take's length:

- the spectral envelope (8 bands, dB below the frame's loudest band), level-independent;
- spectral flatness and centroid (mean and spread);
- onsets: the mean rise and fall of the mel bands from frame to frame, and the share of onset frames;
- how the level moves from frame to frame (7 bins from a fast fall to a fast rise), and how it moves in
  the half second after an onset (a piano decays);
- the level histogram: the spread of the take's frame levels (a take in steady noise has little);
- from the transcribed notes: notes per second, their median length, the share of very short notes, the
  spread of their pitches and the share of notes a semitone from an overlapping one (speech and glides).

Nothing here depends on the absolute level, so a quiet piano is still a piano; loudness and noise are
reported separately (:meth:`SoundProfile.loudness_db`, :meth:`SoundProfile.noise_margin_db`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from pianocoach.features.notes import NoteTable
from pianocoach.features.spectrum import mel_filters, power_spectrogram

PROFILE_VERSION = 1  # bump when a number below changes; the bundle's sound check records the version it learned
SAMPLE_RATE = 22050
N_FFT = 2048
HOP = 1024  # a frame every 46 ms (93 ms long): half the cost of 23 ms frames, enough for onsets and decays
MEL_BANDS = 40
SHAPE_BANDS = 8  # the envelope pooled into this many bands
# frames within ACTIVE_RANGE_DB of the loudest frame so far (and above ACTIVE_DB, dBFS RMS) are measured; the others
# only enter the level histogram. Relative, so a quieter recording of the same playing measures the same frames
ACTIVE_RANGE_DB = 50.0
ACTIVE_DB = -100.0
ONSET_RISE_DB = 2.5  # a frame whose bands rise this much on average is an onset
AFTER_ONSET_FRAMES = (2, 11)  # the frames after an onset whose level changes show the decay (90-510 ms)
LEVEL_STEPS_DB = (-3.0, -1.0, -0.2, 0.2, 1.0, 3.0)  # frame-to-frame level changes, binned
HISTOGRAM_DB = (-120.0, 0.0)  # 1 dB bins
RANGE_DB = 60.0  # bands more than this below the frame's loudest band count as at that floor: level-independent

PROFILE_NAMES: tuple[str, ...] = (
    *(f"envelope_{i}" for i in range(SHAPE_BANDS)),
    "flatness_mean",
    "flatness_std",
    "centroid_mean",
    "centroid_std",
    "rise_mean",
    "fall_mean",
    "onset_share",
    *(f"level_step_{i}" for i in range(len(LEVEL_STEPS_DB) + 1)),
    "after_onset_slope_db",
    "after_onset_steady",
    "level_spread_db",
    "level_median_above_floor_db",
    "notes_per_s",
    "note_median_s",
    "short_note_share",
    "pitch_spread",
    "semitone_neighbour_share",
)


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    return mel_filters(SAMPLE_RATE, N_FFT, MEL_BANDS, 27.5, 8000.0)


def _flatness_bins() -> slice:
    return slice(3, int(8000 * N_FFT / SAMPLE_RATE))  # about 30 Hz to 8 kHz


@dataclass
class SoundProfile:
    """Running sums; :meth:`feed` the capture, then :meth:`vector`."""

    frames: int = 0
    active: int = 0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(12))
    envelope: np.ndarray = field(default_factory=lambda: np.zeros(SHAPE_BANDS))
    level_steps: np.ndarray = field(default_factory=lambda: np.zeros(len(LEVEL_STEPS_DB) + 1))
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(int(HISTOGRAM_DB[1] - HISTOGRAM_DB[0]) + 1))
    _rest: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    _last_bands: np.ndarray | None = None
    _last_level: float | None = None
    _since_onset: int = 1_000_000  # frames since the last onset
    _loudest: float = -np.inf  # the loudest frame's level so far

    # indices into ``sums``
    _FLAT, _FLAT2, _CENT, _CENT2, _RISE, _FALL, _ONSETS, _AFTER, _AFTER_N, _STEADY, _STEPS_N, _ = range(12)

    def feed(self, audio: np.ndarray) -> None:
        """``audio``: the next samples at 22,050 Hz, mono."""
        data = np.concatenate([self._rest, np.asarray(audio, dtype=np.float32)])
        count = (len(data) - N_FFT) // HOP + 1 if len(data) >= N_FFT else 0
        if count <= 0:
            self._rest = data
            return
        used = (count - 1) * HOP + N_FFT
        power = power_spectrogram(data[:used], N_FFT, HOP)  # float32: a float64 product costs 4x here
        self._rest = data[count * HOP :]
        squares = np.concatenate([[0.0], np.cumsum(data[:used].astype(np.float64) ** 2)])
        starts = np.arange(count) * HOP
        levels = 10 * np.log10((squares[starts + N_FFT] - squares[starts]) / N_FFT + 1e-12)
        bands = 10 * np.log10((_mel_basis() @ power).astype(np.float64) + 1e-10)  # [MEL_BANDS, count]
        self._add(power, bands, levels)

    def _add(self, power: np.ndarray, bands: np.ndarray, levels: np.ndarray) -> None:
        """Frames in order; the first is compared with the last frame of the previous call."""
        lo, hi = HISTOGRAM_DB
        np.add.at(self.histogram, np.clip(np.round(levels - lo), 0, hi - lo).astype(int), 1)
        self.frames += len(levels)
        s = self.sums
        loudest = np.maximum.accumulate(np.maximum(levels, self._loudest))
        self._loudest = float(loudest[-1])
        active = (levels >= ACTIVE_DB) & (levels >= loudest - ACTIVE_RANGE_DB)
        self.active += int(active.sum())
        relative = np.maximum(bands - bands.max(axis=0), -RANGE_DB)  # [MEL_BANDS, frames]
        self.envelope += relative[:, active].sum(axis=1).reshape(SHAPE_BANDS, -1).mean(axis=1)
        spectrum = power[_flatness_bins()].astype(np.float64) + 1e-12
        flatness = np.exp(np.mean(np.log(spectrum), axis=0)) / np.mean(spectrum, axis=0)
        weights = 10 ** (relative / 10)
        centroid = (np.arange(MEL_BANDS) @ weights) / weights.sum(axis=0) / (MEL_BANDS - 1)
        s[self._FLAT] += flatness[active].sum()
        s[self._FLAT2] += (flatness[active] ** 2).sum()
        s[self._CENT] += centroid[active].sum()
        s[self._CENT2] += (centroid[active] ** 2).sum()

        previous_bands = (
            bands[:, :-1] if self._last_bands is None else np.hstack([self._last_bands[:, None], bands[:, :-1]])
        )
        previous_levels = levels[:-1] if self._last_level is None else np.concatenate([[self._last_level], levels[:-1]])
        compared = active[1:] if self._last_bands is None else active  # frames with a frame before them
        current = bands[:, 1:] if self._last_bands is None else bands
        current_levels = levels[1:] if self._last_level is None else levels
        first_index = len(levels) - current.shape[1]  # 1 on the very first call, else 0
        self._last_bands, self._last_level = bands[:, -1].copy(), float(levels[-1])

        floor = np.maximum(current.max(axis=0), previous_bands.max(axis=0)) - RANGE_DB  # the pair's, so a gain cancels
        change = np.maximum(current, floor) - np.maximum(previous_bands, floor)
        rise = np.maximum(change, 0).mean(axis=0)
        step = current_levels - previous_levels
        s[self._RISE] += rise[compared].sum()
        s[self._FALL] += np.maximum(-change, 0).mean(axis=0)[compared].sum()
        np.add.at(self.level_steps, np.searchsorted(LEVEL_STEPS_DB, step[compared]), 1)
        s[self._STEPS_N] += int(compared.sum())
        onset = (rise >= ONSET_RISE_DB) & compared
        s[self._ONSETS] += int(onset.sum())
        # frames since the last onset (an onset on a silent frame does not count), carried across calls
        index = np.arange(first_index, len(levels))
        last_onset = np.maximum.accumulate(np.where(onset, index, -1_000_000))
        since = np.where(last_onset >= 0, index - last_onset, self._since_onset + (index - first_index) + 1)
        if len(since):
            self._since_onset = int(since[-1])
        after = compared & ~onset & (since >= AFTER_ONSET_FRAMES[0]) & (since <= AFTER_ONSET_FRAMES[1])
        s[self._AFTER] += step[after].sum()
        s[self._AFTER_N] += int(after.sum())
        s[self._STEADY] += int(((step >= -1.5) & (step <= 0.0) & after).sum())

    def _percentile(self, q: float, counts: np.ndarray | None = None) -> float:
        counts = self.histogram if counts is None else counts
        total = counts.sum()
        if total <= 0:
            return HISTOGRAM_DB[0]
        index = int(np.searchsorted(np.cumsum(counts), q / 100 * total))
        return HISTOGRAM_DB[0] + min(index, len(counts) - 1)

    def loudness_db(self) -> float:
        """The level (dBFS RMS of 93 ms frames) the loudest 5 % of the take reach."""
        return self._percentile(95)

    def noise_margin_db(self) -> float:
        """How far the loudest 5 % of frames stand above the quietest 10 % (the room's noise floor, when the
        take has pauses or quiet moments): small in steady noise."""
        return self._percentile(95) - self._percentile(10)

    def vector(self, notes: NoteTable | None) -> np.ndarray:
        """The profile as a float32 vector in ``PROFILE_NAMES`` order (zeros for a take without sound)."""
        s = self.sums
        n = max(self.active, 1)
        steps = max(s[self._STEPS_N], 1)
        after = max(s[self._AFTER_N], 1)
        flat, cent = s[self._FLAT] / n, s[self._CENT] / n
        values = [
            *(self.envelope / n / 10),  # in units of 10 dB
            flat,
            np.sqrt(max(s[self._FLAT2] / n - flat**2, 0.0)),
            cent,
            np.sqrt(max(s[self._CENT2] / n - cent**2, 0.0)),
            s[self._RISE] / steps,
            s[self._FALL] / steps,
            s[self._ONSETS] / steps,
            *(self.level_steps / steps),
            s[self._AFTER] / after,
            s[self._STEADY] / after,
            self.noise_margin_db() / 10,
            (self._percentile(50) - self._percentile(10)) / 10,
            *note_profile(notes),
        ]
        return np.asarray(values, dtype=np.float32)


def note_profile(notes: NoteTable | None) -> list[float]:
    """Five numbers on the transcribed notes (see the module's list); zeros without notes."""
    if notes is None or len(notes) < 2:
        return [0.0] * 5
    span = max(notes.end - notes.start, 1.0)
    duration = notes.duration
    pitch = notes.pitch.astype(np.float64)
    order = np.argsort(notes.onset, kind="stable")
    onset, offset, pitch_sorted = notes.onset[order], notes.offset[order], pitch[order]
    # a note a semitone from the note before it, begun before that one ended: a glide, rare in piano playing
    neighbour = (np.abs(np.diff(pitch_sorted)) == 1) & (onset[1:] < offset[:-1])
    return [
        float(np.log1p(len(notes) / span)),
        float(np.log10(max(np.median(duration), 1e-3))),
        float(np.mean(duration < 0.1)),
        float(pitch.std() / 12),
        float(neighbour.mean()),
    ]
