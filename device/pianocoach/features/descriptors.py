"""Performance descriptors: plain, named measurements of timing, dynamics, articulation and pedalling.

Names, units and order come from :data:`pianocoach.features.catalog.DESCRIPTORS`. A measurement that
needs more than the performance has (a tempo from a single chord, an asynchrony with no chords) is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pianocoach.features.beats import beat_track
from pianocoach.features.catalog import DESCRIPTOR_NAMES, PITCH_CLASSES
from pianocoach.features.notes import NoteTable, group_chords, pedal_values_at
from pianocoach.features.settings import DEFAULT_SETTINGS, FeatureSettings

TEMPO_FOLD_BPM = (60.0, 180.0)
BEAT_GRIDS = (4, 3)  # onset deviation is measured against 1/4- and 1/3-beat grids
PHRASE_SMOOTHING_S = 2.0
PARTIAL_PEDAL_MIN = 10  # CC64 above this (and below the threshold) is a part-way pedal
MIDDLE_C = 60


@dataclass(frozen=True)
class Chords:
    """Notes grouped into chords (a lone note is a chord of one)."""

    index: np.ndarray  # chord index per note
    onset: np.ndarray  # first onset of each chord
    spread: np.ndarray  # last minus first onset within each chord
    size: np.ndarray  # notes per chord
    velocity: np.ndarray  # mean velocity per chord
    top: np.ndarray  # index (into the table) of each chord's highest note

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
    by_pitch = np.lexsort((table.pitch, index))  # grouped by chord, highest pitch last
    top = by_pitch[np.r_[np.flatnonzero(np.diff(index[by_pitch])), len(index) - 1]]
    return Chords(index=index, onset=first, spread=last - first, size=size, velocity=velocity, top=top)


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
    """Local beat length at each IOI: the median IOI of a window around it, octave-folded to the beat
    before it (starting from ``beat``), so a change of note values folds away but a gradual
    ritardando is followed rather than wrapped around."""
    half = window // 2
    local = np.array([np.median(ioi[max(0, i - half) : i + half + 1]) for i in range(len(ioi))])
    folded = np.empty_like(local)
    reference = beat
    for i, value in enumerate(local):
        folded[i] = reference = value * 2.0 ** np.round(np.log2(reference / value))
    return folded


def slope(values: np.ndarray) -> float:
    """Least-squares slope of ``values`` against their position scaled to 0..1 (0 for fewer than 3)."""
    if len(values) < 3:
        return 0.0
    return float(np.polyfit(np.linspace(0.0, 1.0, len(values)), values, 1)[0])


@dataclass(frozen=True)
class Tempo:
    bpm: float
    cv: float
    trend: float
    final_ratio: float
    beats: np.ndarray  # local beat length (s) at each chord IOI


def ioi_tempo(chords: Chords, settings: FeatureSettings) -> Tempo:
    ioi = chords.ioi
    if len(ioi) == 0:
        return Tempo(0.0, 0.0, 0.0, 0.0, np.zeros(0))
    bpm = fold_tempo(60.0 / float(np.median(ioi)))
    beats = local_beats(ioi, 60.0 / bpm, settings.local_tempo_window)
    local_bpm = 60.0 / beats
    final = local_bpm[-max(1, len(local_bpm) // 5) :]
    return Tempo(
        bpm=bpm,
        cv=float(np.std(local_bpm) / np.mean(local_bpm)),
        trend=slope(np.log2(local_bpm)),
        final_ratio=float(np.median(final) / bpm),
        beats=beats,
    )


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
    """(tempo in BPM, coefficient of variation of inter-beat intervals) from the beat tracker."""
    envelope = onset_envelope(table, settings)
    if np.count_nonzero(envelope) < 2:
        return 0.0, 0.0
    bpm, beats = beat_track(envelope, sr=settings.sample_rate, hop_length=settings.hop_length)
    intervals = np.diff(beats)
    cv = float(np.std(intervals) / np.mean(intervals)) if len(intervals) >= 2 else 0.0
    return bpm, cv


@dataclass(frozen=True)
class PedalUse:
    down_ratio: float = 0.0
    presses_per_s: float = 0.0
    depth: float = 0.0
    partial_ratio: float = 0.0
    press_s: float = 0.0
    press_times: np.ndarray = field(default_factory=lambda: np.zeros(0))


def pedal_use(events: np.ndarray, start: float, end: float, threshold: int) -> PedalUse:
    """How a pedal (rows of time, CC value) was used between ``start`` and ``end``."""
    span = end - start
    if span <= 0 or len(events) == 0:
        return PedalUse()
    inside = events[(events[:, 0] > start) & (events[:, 0] < end)]
    before = events[events[:, 0] <= start]
    times = np.concatenate([[start], inside[:, 0], [end]])
    values = np.concatenate([[before[-1, 1] if len(before) else 0.0], inside[:, 1]])
    lengths = np.diff(times)
    down = values >= threshold
    pressed = np.flatnonzero(down[1:] & ~down[:-1]) + 1
    # each run of "down" segments is one press
    run_id = np.cumsum(np.r_[down[0], down[1:] & ~down[:-1]]) * down
    press_lengths = np.bincount(run_id, weights=lengths)[1:] if down.any() else np.zeros(0)
    return PedalUse(
        down_ratio=float(np.sum(lengths * down) / span),
        presses_per_s=len(pressed) / span,
        depth=float(np.sum(lengths * values / 127.0) / span),
        partial_ratio=float(np.sum(lengths * ((values > PARTIAL_PEDAL_MIN) & ~down)) / span),
        press_s=float(np.mean(press_lengths)) if len(press_lengths) else 0.0,
        press_times=times[pressed],
    )


def pedal_delay(press_times: np.ndarray, chord_onsets: np.ndarray) -> float:
    """Median seconds from the latest chord onset to each pedal press (0 when none)."""
    idx = np.searchsorted(chord_onsets, press_times, side="right") - 1
    valid = idx >= 0
    if not valid.any():
        return 0.0
    return float(np.median(press_times[valid] - chord_onsets[idx[valid]]))


@dataclass(frozen=True)
class Articulation:
    ratio: float = 0.0
    staccato_fraction: float = 0.0
    overlap_s: float = 0.0
    overlap_fraction: float = 0.0


def articulation(table: NoteTable, chords: Chords) -> Articulation:
    """Key-down durations against the IOI to the next chord, for every note that has a next chord."""
    has_next = chords.index < len(chords.onset) - 1
    if not has_next.any():
        return Articulation()
    index = chords.index[has_next]
    next_onset = chords.onset[index + 1]
    ratio = table.duration[has_next] / (next_onset - chords.onset[index])
    overlap = table.offset[has_next] - next_onset
    return Articulation(
        ratio=float(np.median(ratio)),
        staccato_fraction=float(np.mean(ratio < 0.5)),
        overlap_s=float(np.mean(np.maximum(0.0, overlap))),
        overlap_fraction=float(np.mean(overlap > 0)),
    )


def voicing(table: NoteTable, chords: Chords) -> tuple[float, float]:
    """(velocity of each chord's top note minus its other notes, seconds the top note leads them)."""
    multi = np.flatnonzero(chords.size > 1)
    if len(multi) == 0:
        return 0.0, 0.0
    member = np.isin(chords.index, multi)
    others = member.copy()
    others[chords.top[multi]] = False
    other_count = chords.size[multi] - 1
    n = len(chords.onset)
    other_velocity = np.bincount(chords.index[others], weights=table.velocity[others].astype(float), minlength=n)[multi]
    other_onset = np.bincount(chords.index[others], weights=table.onset[others], minlength=n)[multi]
    top = chords.top[multi]
    velocity_lead = np.mean(table.velocity[top] - other_velocity / other_count)
    time_lead = np.mean(other_onset / other_count - table.onset[top])
    return float(velocity_lead), float(time_lead)


def phrase_dynamics(chords: Chords) -> tuple[float, float]:
    """(std of chord velocity smoothed over ~2 s, slope of chord velocity over the performance)."""
    if len(chords.onset) < 2:
        return 0.0, 0.0
    t = chords.onset
    weights = np.exp(-0.5 * ((t[:, None] - t[None, :]) / (PHRASE_SMOOTHING_S / 2)) ** 2)
    smooth = weights @ chords.velocity / weights.sum(axis=1)
    return float(np.std(smooth)), slope(chords.velocity)


def sounding_offsets(table: NoteTable, threshold: int) -> np.ndarray:
    """When each note stops sounding: its key release, or the next pedal release if the pedal is down then."""
    events = table.pedal_events
    if len(events) == 0:
        return table.offset.copy()
    down = events[:, 1] >= threshold
    # times the pedal goes from down to up; a pedal still down at the end releases at the last release
    releases = np.r_[events[np.r_[False, down[:-1] & ~down[1:]], 0], table.end]
    held = pedal_values_at(events, table.offset) >= threshold
    release_time = releases[np.searchsorted(releases, table.offset, side="left").clip(max=len(releases) - 1)]
    return np.where(held, np.maximum(release_time, table.offset), table.offset)


def blur(table: NoteTable, chords: Chords, sounding: np.ndarray) -> float:
    """Fraction of notes (that have a chord after next) still sounding when it starts."""
    has = chords.index < len(chords.onset) - 2
    if not has.any():
        return 0.0
    return float(np.mean(sounding[has] > chords.onset[chords.index[has] + 2]))


def polyphony(table: NoteTable, chords: Chords, offsets: np.ndarray | None = None) -> float:
    """Mean number of notes held (or sounding, given ``offsets``) at each chord onset, its own included."""
    offsets = table.offset if offsets is None else offsets
    started = np.searchsorted(np.sort(table.onset), chords.onset + chords.spread, side="right")
    ended = np.searchsorted(np.sort(offsets), chords.onset, side="right")
    return float(np.mean(started - ended))


def pitch_class_profile(table: NoteTable) -> dict[str, float]:
    """Share of key-down time on each pitch class."""
    # float64 with weights (numpy's stubs say intp)
    weights: np.ndarray = np.bincount(table.pitch % 12, weights=np.maximum(table.duration, 1e-3), minlength=12)
    weights /= weights.sum()
    return {f"pitch_class_{name}": float(w) for name, w in zip(PITCH_CLASSES, weights)}


def compute_descriptors(table: NoteTable, settings: FeatureSettings = DEFAULT_SETTINGS) -> dict[str, float]:
    """Every descriptor of the catalogue, in catalogue order."""
    chords = chords_of(table, settings)
    tempo = ioi_tempo(chords, settings)
    beat_bpm, beat_cv = tracked_tempo(table, settings)
    velocity = table.velocity.astype(np.float64)
    art = articulation(table, chords)
    pedal = pedal_use(table.pedal_events, table.start, table.end, settings.pedal_threshold)
    soft = pedal_use(table.soft_pedal_events, table.start, table.end, settings.pedal_threshold)
    velocity_lead, time_lead = voicing(table, chords)
    sounding = sounding_offsets(table, settings.pedal_threshold)
    phrase_std, velocity_trend = phrase_dynamics(chords)
    treble = table.pitch >= MIDDLE_C
    span = table.end - table.start
    multi = chords.size > 1
    values = {
        "tempo_ioi_bpm": tempo.bpm,
        "tempo_ioi_cv": tempo.cv,
        "tempo_beat_bpm": beat_bpm,
        "tempo_beat_cv": beat_cv,
        "tempo_trend": tempo.trend,
        "tempo_final_ratio": tempo.final_ratio,
        "onset_deviation_ms": 1000.0 * onset_deviation(chords.ioi, tempo.beats),
        "chord_asynchrony_ms": 1000.0 * float(np.mean(chords.spread[multi])) if multi.any() else 0.0,
        "melody_lead_ms": 1000.0 * time_lead,
        "velocity_mean": float(np.mean(velocity)),
        "velocity_std": float(np.std(velocity)),
        "velocity_range": float(np.percentile(velocity, 95) - np.percentile(velocity, 5)),
        "velocity_p10": float(np.percentile(velocity, 10)),
        "velocity_p90": float(np.percentile(velocity, 90)),
        "velocity_local_variation": float(np.mean(np.abs(np.diff(chords.velocity))))
        if len(chords.velocity) > 1
        else 0.0,
        "velocity_phrase_std": phrase_std,
        "velocity_trend": velocity_trend,
        "melody_velocity_lead": velocity_lead,
        "treble_bass_balance": float(np.mean(velocity[treble]) - np.mean(velocity[~treble]))
        if treble.any() and (~treble).any()
        else 0.0,
        "articulation_ratio": art.ratio,
        "staccato_fraction": art.staccato_fraction,
        "legato_overlap_ms": 1000.0 * art.overlap_s,
        "overlap_fraction": art.overlap_fraction,
        "duration_median_beats": float(np.median(table.duration)) * tempo.bpm / 60.0,
        "pedal_ratio": pedal.down_ratio,
        "pedal_changes_per_s": pedal.presses_per_s,
        "pedal_depth_mean": pedal.depth,
        "pedal_partial_ratio": pedal.partial_ratio,
        "pedal_press_s": pedal.press_s,
        "pedal_delay_ms": 1000.0 * pedal_delay(pedal.press_times, chords.onset),
        "pedal_sustain_ms": 1000.0 * float(np.mean(sounding - table.offset)),
        "blur_fraction": blur(table, chords, sounding),
        "sounding_polyphony_mean": polyphony(table, chords, sounding),
        "soft_pedal_ratio": soft.down_ratio,
        "pitch_range": float(table.pitch.max() - table.pitch.min()),
        "pitch_mean": float(np.mean(table.pitch)),
        "pitch_p10": float(np.percentile(table.pitch, 10)),
        "pitch_p90": float(np.percentile(table.pitch, 90)),
        "note_density_per_s": len(table) / span if span > 0 else 0.0,
        "polyphony_mean": polyphony(table, chords),
        "duration_s": float(span),
    }
    return {name: float(values[name]) for name in DESCRIPTOR_NAMES}
