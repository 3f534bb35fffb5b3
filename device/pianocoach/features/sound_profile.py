"""What a take sounds like, summed up in a few dozen numbers: the input of the "is this a piano?" check.

A piano note starts with a hammer strike (every band rises at once) and then decays steadily; an organ, a
bowed string or a wind instrument holds its level, speech rises and falls several times a second, noise
has a flat spectrum. :class:`SoundProfile` keeps running sums of such measures over the take, fed the
capture at the transcriber's 22,050 Hz in blocks of any size (its frames are counted from the first sample,
so how the input is cut does not change the numbers), in bounded memory whatever the take's length:

- the spectral envelope (8 bands, dB below the frame's loudest band);
- spectral flatness and centroid (mean and spread);
- onsets: the mean rise and fall of the mel bands from frame to frame, and the share of onset frames;
- how the level moves from frame to frame (7 bins from a fast fall to a fast rise), and how it moves in
  the half second after an onset (a piano decays);
- the spread of the take's frame levels;
- from the transcribed notes: notes per second, their median length, the share of very short notes, the
  spread of their pitches and the share of notes a semitone from an overlapping one (speech and glides).

The sums are kept per 1 dB of frame level, and :meth:`SoundProfile.vector` adds up only the frames within
``PLAYING_RANGE_DB`` of the take's loud moments (and above ``ROOM_TONE_DB``): the room tone before the first note
and the silence that ends a take on the appliance (8 s) are left out, whatever their length. A gain moves every
frame's level alike, so it changes neither which frames count nor (to the 1 dB bins) any number; loudness and
noise are reported separately (:meth:`SoundProfile.loudness_db`, the flatness).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from pianocoach.features.notes import NoteTable
from pianocoach.features.spectrum import mel_filters, power_spectrogram

PROFILE_VERSION = 2  # bump when a number below changes; the bundle's sound check records the version it learned
# (2: the frames are chosen at the end of the take, relative to its loud moments, not as they came)
SAMPLE_RATE = 22050
N_FFT = 2048
HOP = 1024  # a frame every 46 ms (93 ms long): half the cost of 23 ms frames, enough for onsets and decays
MEL_BANDS = 40
MEL_RANGE_HZ = (27.5, 8000.0)  # the lowest and highest frequency the bands cover (A0 to 8 kHz)
SHAPE_BANDS = 8  # the envelope pooled into this many bands
# frames within PLAYING_RANGE_DB of the loudest 5 % of the take's frames, and louder than ROOM_TONE_DB (dBFS RMS),
# are measured; quieter ones only enter the level histogram (a microphone's own noise is about -70 dBFS and below)
PLAYING_RANGE_DB = 30.0
ROOM_TONE_DB = -70.0
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
    "quiet_share",
    "notes_per_s",
    "note_median_s",
    "short_note_share",
    "pitch_spread",
    "semitone_neighbour_share",
)


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    return mel_filters(SAMPLE_RATE, N_FFT, MEL_BANDS, *MEL_RANGE_HZ)


def _flatness_bins() -> slice:
    return slice(3, int(8000 * N_FFT / SAMPLE_RATE))  # about 30 Hz to 8 kHz


# the per-frame sums kept for each 1 dB of frame level (columns of ``SoundProfile.by_level``)
_ENVELOPE = slice(0, SHAPE_BANDS)
_FLAT, _FLAT2, _CENT, _CENT2, _RISE, _FALL, _ONSET, _AFTER, _AFTER_N, _STEADY, _COMPARED = range(
    SHAPE_BANDS, SHAPE_BANDS + 11
)
_STEPS = slice(SHAPE_BANDS + 11, SHAPE_BANDS + 11 + len(LEVEL_STEPS_DB) + 1)
_COLUMNS = _STEPS.stop
_LEVEL_BINS = int(HISTOGRAM_DB[1] - HISTOGRAM_DB[0]) + 1


@dataclass
class SoundProfile:
    """Running sums; :meth:`feed` the capture, then :meth:`vector`."""

    frames: int = 0
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(_LEVEL_BINS))  # frames per 1 dB of level
    by_level: np.ndarray = field(default_factory=lambda: np.zeros((_LEVEL_BINS, _COLUMNS)))  # sums per 1 dB
    _rest: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    _last_bands: np.ndarray | None = None
    _last_level: float | None = None
    _since_onset: int = 1_000_000  # frames since the last onset

    def feed(self, audio: np.ndarray) -> np.ndarray:
        """``audio``: the next samples at 22,050 Hz, mono. Returns the mel bands (dB) of the frames it completed
        [MEL_BANDS, n]: the pedal model reads the same frames (:mod:`pianocoach.features.pedal_frames`)."""
        data = np.concatenate([self._rest, np.asarray(audio, dtype=np.float32)])
        count = (len(data) - N_FFT) // HOP + 1 if len(data) >= N_FFT else 0
        if count <= 0:
            self._rest = data
            return np.zeros((MEL_BANDS, 0), dtype=np.float32)
        used = (count - 1) * HOP + N_FFT
        power = power_spectrogram(data[:used], N_FFT, HOP)  # float32: a float64 product costs 4x here
        self._rest = data[count * HOP :]
        squares = np.concatenate([[0.0], np.cumsum(data[:used].astype(np.float64) ** 2)])
        starts = np.arange(count) * HOP
        levels = 10 * np.log10((squares[starts + N_FFT] - squares[starts]) / N_FFT + 1e-12)
        bands = 10 * np.log10((_mel_basis() @ power).astype(np.float64) + 1e-10)  # [MEL_BANDS, count]
        self._add(power, bands, levels)
        return bands.astype(np.float32)

    def _add(self, power: np.ndarray, bands: np.ndarray, levels: np.ndarray) -> None:
        """Frames in order; the first is compared with the last frame of the previous call."""
        lo, hi = HISTOGRAM_DB
        level_bin = np.clip(np.round(levels - lo), 0, hi - lo).astype(int)
        np.add.at(self.histogram, level_bin, 1)
        self.frames += len(levels)
        rows = np.zeros((len(levels), _COLUMNS))
        relative = np.maximum(bands - bands.max(axis=0), -RANGE_DB)  # [MEL_BANDS, frames]
        rows[:, _ENVELOPE] = relative.reshape(SHAPE_BANDS, -1, len(levels)).mean(axis=1).T
        spectrum = power[_flatness_bins()].astype(np.float64) + 1e-12
        flatness = np.exp(np.mean(np.log(spectrum), axis=0)) / np.mean(spectrum, axis=0)
        weights = 10 ** (relative / 10)
        centroid = (np.arange(MEL_BANDS) @ weights) / weights.sum(axis=0) / (MEL_BANDS - 1)
        rows[:, _FLAT], rows[:, _FLAT2] = flatness, flatness**2
        rows[:, _CENT], rows[:, _CENT2] = centroid, centroid**2

        last_bands, last_level = self._last_bands, self._last_level
        if last_bands is None or last_level is None:  # the take's first frame has none before it
            first, previous_bands, previous_levels = 1, bands[:, :-1], levels[:-1]
        else:
            first = 0
            previous_bands = np.hstack([last_bands[:, None], bands[:, :-1]])
            previous_levels = np.concatenate([[last_level], levels[:-1]])
        current, current_levels = bands[:, first:], levels[first:]
        self._last_bands, self._last_level = bands[:, -1].copy(), float(levels[-1])

        floor = np.maximum(current.max(axis=0), previous_bands.max(axis=0)) - RANGE_DB  # the pair's: a gain cancels
        change = np.maximum(current, floor) - np.maximum(previous_bands, floor)
        rise = np.maximum(change, 0).mean(axis=0)
        step = current_levels - previous_levels
        onset = rise >= ONSET_RISE_DB
        # frames since the last onset, carried across calls
        index = np.arange(len(step))
        last_onset = np.maximum.accumulate(np.where(onset, index, -1_000_000))
        since = np.where(last_onset >= 0, index - last_onset, self._since_onset + index + 1)
        if len(since):
            self._since_onset = int(since[-1])
        after = ~onset & (since >= AFTER_ONSET_FRAMES[0]) & (since <= AFTER_ONSET_FRAMES[1])
        compared = rows[first:]
        compared[:, _COMPARED] = 1.0
        compared[:, _RISE] = rise
        compared[:, _FALL] = np.maximum(-change, 0).mean(axis=0)
        compared[:, _ONSET] = onset
        compared[np.arange(len(step)), _STEPS.start + np.searchsorted(LEVEL_STEPS_DB, step)] = 1.0
        compared[:, _AFTER] = np.where(after, step, 0.0)
        compared[:, _AFTER_N] = after
        compared[:, _STEADY] = after & (step >= -1.5) & (step <= 0.0)
        np.add.at(self.by_level, level_bin, rows)

    def _percentile(self, q: float, counts: np.ndarray | None = None) -> float:
        counts = self.histogram if counts is None else counts
        total = counts.sum()
        if total <= 0:
            return HISTOGRAM_DB[0]
        index = int(np.searchsorted(np.cumsum(counts), q / 100 * total))
        return HISTOGRAM_DB[0] + min(index, len(counts) - 1)

    def loudness_db(self) -> float:
        """The level (dBFS RMS of 93 ms frames) the loudest 5 % of the take's frames above room tone reach (of all
        its frames when none is above): pauses and silence before and after the playing do not lower it."""
        above = self.histogram.copy()
        above[: int(round(ROOM_TONE_DB - HISTOGRAM_DB[0]))] = 0
        return self._percentile(95, above if above.any() else None)

    def playing(self) -> np.ndarray:
        """The level bins of the frames measured: within ``PLAYING_RANGE_DB`` of the loud moments, above room tone."""
        levels = HISTOGRAM_DB[0] + np.arange(_LEVEL_BINS)
        return (levels >= self.loudness_db() - PLAYING_RANGE_DB) & (levels >= ROOM_TONE_DB)

    def noise_margin_db(self) -> float:
        """How far the loudest 5 % of frames stand above the quietest 10 % of those within 60 dB of them (deeper
        frames, digital silence among them, count as 60 dB down): small in steady noise."""
        loud = self.loudness_db()
        counts = self.histogram.copy()
        floor = int(round(loud - 60.0 - HISTOGRAM_DB[0]))
        if floor > 0:
            counts[floor] += counts[:floor].sum()
            counts[:floor] = 0
        return loud - self._percentile(10, counts)

    def flatness(self) -> float:
        """The mean spectral flatness of the measured frames (0: pure tones, 1: white noise)."""
        chosen = self.playing()
        return float(self.by_level[chosen, _FLAT].sum() / max(self.histogram[chosen].sum(), 1))

    def vector(self, notes: NoteTable | None) -> np.ndarray:
        """The profile as a float32 vector in ``PROFILE_NAMES`` order (zeros for a take without sound)."""
        chosen = self.playing()
        s = self.by_level[chosen].sum(axis=0)
        n = max(self.histogram[chosen].sum(), 1)
        compared = max(s[_COMPARED], 1)
        after = max(s[_AFTER_N], 1)
        flat, cent = s[_FLAT] / n, s[_CENT] / n
        below = self.histogram[levels_below(chosen)].sum()
        values = [
            *(s[_ENVELOPE] / n / 10),  # in units of 10 dB
            flat,
            np.sqrt(max(s[_FLAT2] / n - flat**2, 0.0)),
            cent,
            np.sqrt(max(s[_CENT2] / n - cent**2, 0.0)),
            s[_RISE] / compared,
            s[_FALL] / compared,
            s[_ONSET] / compared,
            *(s[_STEPS] / compared),
            s[_AFTER] / after,
            s[_STEADY] / after,
            self.noise_margin_db() / 10,
            below / max(self.frames, 1),  # the share of the take quieter than its playing: pauses, room tone
            *note_profile(notes),
        ]
        return np.asarray(values, dtype=np.float32) if self.frames else np.zeros(len(PROFILE_NAMES), np.float32)


def levels_below(chosen: np.ndarray) -> np.ndarray:
    """The level bins under the first chosen one (all of them when none is chosen)."""
    first = int(np.argmax(chosen)) if chosen.any() else len(chosen)
    return np.arange(len(chosen)) < first


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
