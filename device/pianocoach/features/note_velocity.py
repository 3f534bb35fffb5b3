"""How hard each heard note was struck: the numbers the velocity model reads (issue 19, item 1: basic-pitch plus
dedicated models).

basic-pitch's note amplitude says almost nothing of the key velocity (r 0.03 on held-out renders, README). A harder
strike is louder and brighter: the velocity model (``make velocity-model``, role ``velocity`` in a bundle) reads, for
each transcribed note, the sound profile's 40 mel bands (:class:`~pianocoach.features.sound_profile.SoundProfile`,
one frame every 46 ms, the frames the pedal model reads too) around its onset:

- how far its first four harmonics' bands rose over what was sounding ``BEFORE_FRAMES`` earlier, and where they
  stand against the frame's level (the timbre: a hard strike has strong upper partials);
- the frame's level against the levels of the frames the table's notes span (a whole take's, or a scoring window's):
  the loudest frame before it, the loud level (95th percentile) and the median and 10th percentile of the playing
  (the frames within ``PLAYING_RANGE_DB`` of the loud level). A microphone's gain is unknown, so a level means
  something only against the rest of the playing: every number here is unchanged when the whole take is louder or
  quieter;
- the rise's spectral centre (brightness), the pitch and basic-pitch's own velocity.

Against the span's levels, not only the loudest frame so far (measured: with the loudest-so-far alone, a soft
opening before a loud ending was heard as loud as the ending). So a whole take's velocities are known at its end, and
a scoring window's once its frames have come (the session scores a window's notes with the velocities heard in the
window). :class:`OnsetFrames` keeps the take's frames as float16 (84 bytes a frame with its level: 1.6 MB for a
15-minute take, the appliance's longest); the training renders keep the same float16 frames, so the device computes
exactly what the model learned from.
"""

from __future__ import annotations

import numpy as np

from pianocoach.features.notes import NoteTable
from pianocoach.features.sound_profile import HOP, MEL_BANDS, MEL_RANGE_HZ, N_FFT, SAMPLE_RATE
from pianocoach.features.spectrum import hz_to_mel, mel_to_hz

NOTE_VELOCITY_VERSION = 2  # bump when a number below changes; a bundle's velocity model records the version it learned
HARMONICS = 4
PEAK_FRAMES = 3  # the onset's frame and the two after it: the loudest of them is the strike
BEFORE_FRAMES = 2  # what was sounding already: the frame this many before the onset's
LOUD_PERCENTILE = 95.0  # a take's loud level
PLAYING_RANGE_DB = 30.0  # frames within this of the loud level are its playing (quieter: rests, decays, room)
FEATURE_NAMES: tuple[str, ...] = (
    "pitch",
    "transcriber_velocity",
    "level_vs_loudest_so_far_db",
    "level_vs_take_loud_db",
    "level_vs_take_playing_median_db",
    "level_vs_take_playing_p10_db",
    "brightness",
    *(f"rise_h{k}_db" for k in range(1, HARMONICS + 1)),
    *(f"h{k}_vs_level_db" for k in range(1, HARMONICS + 1)),
)


def _band_edges() -> np.ndarray:
    low, high = MEL_RANGE_HZ  # as sound_profile's mel filters
    return mel_to_hz(np.linspace(hz_to_mel(low), hz_to_mel(high), MEL_BANDS + 2))


_CENTRES = _band_edges()[1:-1]


def harmonic_bands(pitch: np.ndarray) -> np.ndarray:
    """[n, HARMONICS]: the band holding each note's first harmonics (the highest band above 8 kHz)."""
    hz = 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64)[:, None] - 69) / 12) * np.arange(1, HARMONICS + 1)
    return np.clip(np.searchsorted(_CENTRES, hz), 0, MEL_BANDS - 1)


def onset_frame(seconds: np.ndarray) -> np.ndarray:
    """The frame whose centre is nearest each onset (frame i is centred at (i x HOP + N_FFT / 2) / SAMPLE_RATE)."""
    return np.round((np.asarray(seconds, dtype=np.float64) * SAMPLE_RATE - N_FFT / 2) / HOP).astype(np.int64)


class OnsetFrames:
    """A take's sound-profile frames as they come (:meth:`add`), and the velocity model's numbers for notes
    (:meth:`features`)."""

    def __init__(self) -> None:
        self._bands = np.zeros((1024, MEL_BANDS), dtype=np.float16)  # doubles as it fills
        self._level = np.zeros(1024, dtype=np.float32)  # each frame's level (dB of the bands' summed power)
        self.count = 0

    def add(self, bands: np.ndarray) -> None:
        """``bands``: the next frames [MEL_BANDS, n] in dB, as ``SoundProfile.feed`` gives them."""
        rows = np.asarray(bands, dtype=np.float32).T.astype(np.float16)
        if not len(rows):
            return
        if rows.shape[1] != MEL_BANDS:
            raise ValueError(f"expected {MEL_BANDS} bands a frame, got {rows.shape[1]}")
        if self.count + len(rows) > len(self._bands):
            size = max(2 * len(self._bands), self.count + len(rows))
            self._bands = np.resize(self._bands, (size, MEL_BANDS))
            self._level = np.resize(self._level, size)
        stop = self.count + len(rows)
        self._bands[self.count : stop] = rows
        level = (10 * np.log10((10.0 ** (rows.astype(np.float64) / 10)).sum(axis=1) + 1e-10)).astype(np.float32)
        self._level[self.count : stop] = level
        self.count = stop

    def bands(self) -> np.ndarray:
        """Every frame added, [MEL_BANDS, frames] in dB (float32 of the float16 kept, as the training renders keep
        them)."""
        return self._bands[: self.count].T.astype(np.float32)

    def span(self, table: NoteTable) -> tuple[int, int]:
        """The frames a table's notes span: from ``BEFORE_FRAMES`` before its first onset to ``PEAK_FRAMES`` after its
        end (its last release), within the frames added (at least one)."""
        first, last = onset_frame(np.array([table.start, table.end]))
        low = int(np.clip(first - BEFORE_FRAMES, 0, self.count - 1))
        return low, int(np.clip(last + PEAK_FRAMES, low + 1, self.count))

    def features(self, table: NoteTable) -> np.ndarray:
        """[len(table), len(FEATURE_NAMES)] float32 for the table's notes (onset, pitch and transcriber velocity),
        against the levels of the frames its notes span (:meth:`span`): a whole take's against the whole take, a
        window's against the window, so a window's numbers are final once its frames have come. A note past the last
        frame added reads the last frames there are."""
        n = len(table)
        if not self.count or not n:
            return np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
        low, high = self.span(table)
        bands = self._bands[low:high].astype(np.float32)
        levels = self._level[low:high]
        last = high - low - 1
        first = np.clip(onset_frame(table.onset) - low, 0, last)
        peak_rows = np.minimum(first[:, None] + np.arange(PEAK_FRAMES), last)  # [n, PEAK_FRAMES]
        peak = bands[peak_rows].max(axis=1)  # [n, MEL_BANDS]
        before = bands[np.maximum(first - BEFORE_FRAMES, 0)]
        level = levels[peak_rows].max(axis=1)
        rise = peak - before
        positive = np.maximum(rise, 0.0)
        brightness = (positive * np.arange(MEL_BANDS)).sum(axis=1) / (positive.sum(axis=1) + 1e-6)
        loud = np.float32(np.percentile(levels, LOUD_PERCENTILE))
        playing = levels[levels >= loud - PLAYING_RANGE_DB]  # never empty: the loud level's own frames are in it
        which = harmonic_bands(table.pitch)
        rows = np.arange(n)[:, None]
        out = np.column_stack(
            [
                table.pitch.astype(np.float32),
                table.velocity.astype(np.float32),
                level - np.maximum.accumulate(levels)[first],  # the loudest frame so far within the span
                level - loud,
                level - np.float32(np.median(playing)),
                level - np.float32(np.percentile(playing, 10)),
                brightness,
                rise[rows, which],
                peak[rows, which] - level[:, None],
            ]
        )
        return out.astype(np.float32)
