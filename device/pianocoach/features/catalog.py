"""The names, order and units of every feature PianoCoach computes: one table, shared by training
and the device. Changing anything here changes the feature settings hash, so old bundles are refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    unit: str
    doc: str


# Performance descriptors, in the order of the fixed-length feature vector.
DESCRIPTORS: tuple[FeatureInfo, ...] = (
    FeatureInfo("tempo_ioi_bpm", "BPM", "tempo from the median inter-onset interval of chords, folded into 60-180 BPM"),
    FeatureInfo("tempo_ioi_cv", "ratio", "tempo instability: coefficient of variation of the local IOI tempo (median over 8 chords, folded to the global tempo)"),
    FeatureInfo("tempo_beat_bpm", "BPM", "tempo from librosa.beat.beat_track on a velocity-weighted onset envelope"),
    FeatureInfo("tempo_beat_cv", "ratio", "beat instability: coefficient of variation of the tracked inter-beat intervals"),
    FeatureInfo("onset_deviation_ms", "ms", "mean distance of each chord IOI from the nearest 1/4-beat multiple of the local beat"),
    FeatureInfo("chord_asynchrony_ms", "ms", "mean spread (last minus first onset) of notes played as one chord"),
    FeatureInfo("velocity_mean", "MIDI velocity", "mean key velocity"),
    FeatureInfo("velocity_std", "MIDI velocity", "standard deviation of key velocity"),
    FeatureInfo("velocity_range", "MIDI velocity", "dynamic range: 95th minus 5th percentile of key velocity"),
    FeatureInfo("velocity_local_variation", "MIDI velocity", "mean absolute change of mean chord velocity from one chord to the next"),
    FeatureInfo("articulation_ratio", "ratio", "median key-down duration divided by the IOI to the next chord (<1 detached, >1 overlapping)"),
    FeatureInfo("legato_overlap_ms", "ms", "mean time a note is still held after the next chord starts (0 when released before)"),
    FeatureInfo("pedal_ratio", "fraction", "fraction of the performance with the sustain pedal (CC64 >= 64) down"),
    FeatureInfo("pedal_changes_per_s", "1/s", "sustain pedal presses per second"),
    FeatureInfo("pedal_depth_mean", "fraction", "mean sustain pedal depth (CC64 / 127) over the performance"),
    FeatureInfo("pitch_range", "semitones", "highest minus lowest pitch played"),
    FeatureInfo("pitch_mean", "MIDI note", "register: mean pitch (60 = middle C)"),
    FeatureInfo("note_density_per_s", "notes/s", "notes per second of performance"),
    FeatureInfo("polyphony_mean", "notes", "mean number of keys held at each chord onset"),
    FeatureInfo("duration_s", "s", "first onset to last release"),
)

DESCRIPTOR_NAMES: tuple[str, ...] = tuple(d.name for d in DESCRIPTORS)

# Per-note sequence features, in column order. Each row is one note, sorted by onset then pitch.
NOTE_FEATURES: tuple[FeatureInfo, ...] = (
    FeatureInfo("pitch", "scaled", "(pitch - pitch_min) / (pitch_max - pitch_min)"),
    FeatureInfo("velocity", "scaled", "velocity / 127"),
    FeatureInfo("ioi", "log-time", "log1p(seconds since the previous note onset / time_scale_s)"),
    FeatureInfo("duration", "log-time", "log1p(key-down seconds / time_scale_s)"),
    FeatureInfo("articulation", "ratio", "key-down duration / IOI to the next chord, clipped to [0, 4]"),
    FeatureInfo("pedal", "fraction", "sustain pedal depth at the note onset (CC64 / 127)"),
    FeatureInfo("chord_offset", "log-time", "log1p(seconds after the first onset of its chord / time_scale_s)"),
)

NOTE_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in NOTE_FEATURES)
