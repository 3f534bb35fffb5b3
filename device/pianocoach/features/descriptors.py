"""Performance descriptors: plain, named measurements of timing, dynamics, articulation and pedal.

Names, units and order come from :data:`pianocoach.features.catalog.DESCRIPTORS`. A measurement that
needs more than the performance has (a tempo from a single chord, an asynchrony with no chords) is 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pianocoach.features.notes import NoteTable, group_chords
from pianocoach.features.settings import DEFAULT_SETTINGS, FeatureSettings

# librosa's numba kernels compile on first use (~20 s); a kept cache folder makes that once per machine.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "pianocoach" / "numba"))

TEMPO_FOLD_BPM = (60.0, 180.0)
BEAT_GRIDS = (4, 3)  # onset deviation is measured against 1/4- and 1/3-beat grids


@dataclass(frozen=True)
class Chords:
    """Notes grouped into chords (a lone note is a chord of one)."""

    index: np.ndarray  # chord index per note
    onset: np.ndarray  # first onset of each chord
    spread: np.ndarray  # last minus first onset within each chord
    size: np.ndarray  # notes per chord
    velocity: np.ndarray  # mean velocity per chord

    @property
    def ioi(self) -> np.ndarray:
        return np.diff(self.onset)


def chords_of(table: NoteTable, settings: FeatureSettings = DEFAULT_SETTINGS) -> Chords:
    index = group_chords(table.onset, settings.chord_window_s)
    n = int(index[-1]) + 1
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, index, table.onset)
    np.maximum.at(last, index, table.onset)
    size = np.bincount(index, minlength=n)
    velocity = np.bincount(index, weights=table.velocity.astype(np.float64), minlength=n) / size
    return Chords(index=index, onset=first, spread=last - first, size=size, velocity=velocity)


def fold_tempo(bpm: float) -> float:
    low, high = TEMPO_FOLD_BPM
    if bpm <= 0 or not np.isfinite(bpm):
        return 0.0
    while bpm > high:
        bpm /= 2.0
    while bpm < low:
        bpm *= 2.0
    return bpm


def local_beats(ioi: np.ndarray, beat: float, window: int) -> np.ndarray:
    """Local beat length at each IOI: the median IOI of a window around it, octave-folded to ``beat``."""
    half = window // 2
    local = np.array([np.median(ioi[max(0, i - half) : i + half + 1]) for i in range(len(ioi))])
    return local * 2.0 ** np.round(np.log2(beat / local))


def ioi_tempo(chords: Chords, settings: FeatureSettings) -> tuple[float, float, np.ndarray]:
    """(tempo in BPM, coefficient of variation of the local tempo, local beat length per IOI)."""
    ioi = chords.ioi
    if len(ioi) == 0:
        return 0.0, 0.0, np.zeros(0)
    bpm = fold_tempo(60.0 / float(np.median(ioi)))
    beats = local_beats(ioi, 60.0 / bpm, settings.local_tempo_window)
    local_bpm = 60.0 / beats
    return bpm, float(np.std(local_bpm) / np.mean(local_bpm)), beats


def onset_deviation(ioi: np.ndarray, beats: np.ndarray) -> float:
    """Mean seconds between each IOI and the nearest multiple of a 1/4 or 1/3 of its local beat."""
    if len(ioi) == 0:
        return 0.0
    deviations = []
    for division in BEAT_GRIDS:
        grid = beats / division
        steps = np.maximum(1.0, np.round(ioi / grid))
        deviations.append(np.abs(ioi - steps * grid))
    return float(np.mean(np.minimum(*deviations)))


def onset_envelope(table: NoteTable, settings: FeatureSettings) -> np.ndarray:
    """Velocity-weighted note onsets on the audio frame grid (sample_rate / hop_length frames a second)."""
    fps = settings.sample_rate / settings.hop_length
    frames = np.round((table.onset - table.start) * fps).astype(np.int64)
    length = int(np.ceil((table.end - table.start) * fps)) + 2
    envelope = np.zeros(length)
    np.add.at(envelope, frames, table.velocity / 127.0)
    return envelope


def tracked_tempo(table: NoteTable, settings: FeatureSettings) -> tuple[float, float]:
    """(tempo in BPM, coefficient of variation of inter-beat intervals) from librosa's beat tracker."""
    import librosa  # slow import; only needed here

    envelope = onset_envelope(table, settings)
    if np.count_nonzero(envelope) < 2:
        return 0.0, 0.0
    tempo, beats = librosa.beat.beat_track(
        onset_envelope=envelope, sr=settings.sample_rate, hop_length=settings.hop_length, units="time"
    )
    bpm = float(np.atleast_1d(tempo)[0])  # librosa >= 0.10 returns an array
    intervals = np.diff(beats)
    cv = float(np.std(intervals) / np.mean(intervals)) if len(intervals) >= 2 else 0.0
    return bpm, cv


def pedal_measures(table: NoteTable, settings: FeatureSettings) -> tuple[float, float, float]:
    """(fraction of time pedal down, presses per second, mean depth) between first onset and last release."""
    start, end = table.start, table.end
    span = end - start
    events = table.pedal_events
    if span <= 0 or len(events) == 0:
        return 0.0, 0.0, 0.0
    inside = events[(events[:, 0] > start) & (events[:, 0] < end)]
    times = np.concatenate([[start], inside[:, 0], [end]])
    values = np.concatenate([table.pedal_at(np.array([start])), inside[:, 1]])
    lengths = np.diff(times)
    down = values >= settings.pedal_threshold
    presses = int(np.count_nonzero(down[1:] & ~down[:-1]))
    ratio = float(np.sum(lengths * down) / span)
    depth = float(np.sum(lengths * values / 127.0) / span)
    return ratio, presses / span, depth


def articulation(table: NoteTable, chords: Chords) -> tuple[float, float]:
    """(median duration / IOI to the next chord, mean overlap into the next chord in seconds)."""
    has_next = chords.index < len(chords.onset) - 1
    if not has_next.any():
        return 0.0, 0.0
    index = chords.index[has_next]
    next_onset = chords.onset[index + 1]
    ioi = next_onset - chords.onset[index]
    ratio = table.duration[has_next] / ioi
    overlap = np.maximum(0.0, table.offset[has_next] - next_onset)
    return float(np.median(ratio)), float(np.mean(overlap))


def polyphony(table: NoteTable, chords: Chords) -> float:
    """Mean number of keys held at each chord onset (the chord's own notes included)."""
    started = np.searchsorted(np.sort(table.onset), chords.onset + chords.spread, side="right")
    ended = np.searchsorted(np.sort(table.offset), chords.onset, side="right")
    return float(np.mean(started - ended))


def compute_descriptors(table: NoteTable, settings: FeatureSettings = DEFAULT_SETTINGS) -> dict[str, float]:
    """Every descriptor of the catalogue, in catalogue order."""
    chords = chords_of(table, settings)
    tempo_bpm, tempo_cv, beats = ioi_tempo(chords, settings)
    beat_bpm, beat_cv = tracked_tempo(table, settings)
    velocity = table.velocity.astype(np.float64)
    articulation_ratio, overlap_s = articulation(table, chords)
    pedal_ratio, pedal_rate, pedal_depth = pedal_measures(table, settings)
    span = table.end - table.start
    multi = chords.size > 1
    values = {
        "tempo_ioi_bpm": tempo_bpm,
        "tempo_ioi_cv": tempo_cv,
        "tempo_beat_bpm": beat_bpm,
        "tempo_beat_cv": beat_cv,
        "onset_deviation_ms": 1000.0 * onset_deviation(chords.ioi, beats),
        "chord_asynchrony_ms": 1000.0 * float(np.mean(chords.spread[multi])) if multi.any() else 0.0,
        "velocity_mean": float(np.mean(velocity)),
        "velocity_std": float(np.std(velocity)),
        "velocity_range": float(np.percentile(velocity, 95) - np.percentile(velocity, 5)),
        "velocity_local_variation": float(np.mean(np.abs(np.diff(chords.velocity)))) if len(chords.velocity) > 1 else 0.0,
        "articulation_ratio": articulation_ratio,
        "legato_overlap_ms": 1000.0 * overlap_s,
        "pedal_ratio": pedal_ratio,
        "pedal_changes_per_s": pedal_rate,
        "pedal_depth_mean": pedal_depth,
        "pitch_range": float(table.pitch.max() - table.pitch.min()),
        "pitch_mean": float(np.mean(table.pitch)),
        "note_density_per_s": len(table) / span if span > 0 else 0.0,
        "polyphony_mean": polyphony(table, chords),
        "duration_s": float(span),
    }
    return {name: float(values[name]) for name in settings.descriptor_names}
