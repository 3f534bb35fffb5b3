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
    # tempo and timing
    FeatureInfo("tempo_ioi_bpm", "BPM", "tempo from the median inter-onset interval of chords, folded into 60-180 BPM"),
    FeatureInfo(
        "tempo_ioi_cv",
        "ratio",
        "tempo instability: coefficient of variation of the local IOI tempo (median over 8 chords, folded to the "
        "global tempo)",
    ),
    FeatureInfo(
        "tempo_beat_bpm",
        "BPM",
        "tempo from the beat tracker (a port of librosa's) on a velocity-weighted onset envelope",
    ),
    FeatureInfo(
        "tempo_beat_cv", "ratio", "beat instability: coefficient of variation of the tracked inter-beat intervals"
    ),
    FeatureInfo(
        "tempo_trend",
        "log2/perf.",
        "accelerando (+) or ritardando (-): slope of log2 local tempo over the performance scaled to 0..1",
    ),
    FeatureInfo(
        "tempo_final_ratio",
        "ratio",
        "local tempo over the last fifth of the chords divided by the global tempo (<1 slows at the end)",
    ),
    FeatureInfo(
        "onset_deviation_ms",
        "ms",
        "mean distance of each chord IOI from the nearest 1/4- or 1/3-beat multiple of the local beat",
    ),
    FeatureInfo("chord_asynchrony_ms", "ms", "mean spread (last minus first onset) of notes played as one chord"),
    FeatureInfo(
        "melody_lead_ms",
        "ms",
        "mean time the top note of a chord sounds before the chord's other notes (+ = melody leads)",
    ),
    # dynamics
    FeatureInfo("velocity_mean", "MIDI velocity", "mean key velocity"),
    FeatureInfo("velocity_std", "MIDI velocity", "standard deviation of key velocity"),
    FeatureInfo("velocity_range", "MIDI velocity", "dynamic range: 95th minus 5th percentile of key velocity"),
    FeatureInfo("velocity_p10", "MIDI velocity", "10th percentile of key velocity (the soft end)"),
    FeatureInfo("velocity_p90", "MIDI velocity", "90th percentile of key velocity (the loud end)"),
    FeatureInfo(
        "velocity_local_variation",
        "MIDI velocity",
        "mean absolute change of mean chord velocity from one chord to the next",
    ),
    FeatureInfo(
        "velocity_phrase_std",
        "MIDI velocity",
        "dynamic shaping: standard deviation of chord velocity smoothed over about 2 s",
    ),
    FeatureInfo(
        "velocity_trend",
        "MIDI vel./perf.",
        "crescendo (+) or diminuendo (-): slope of chord velocity over the performance scaled to 0..1",
    ),
    FeatureInfo(
        "melody_velocity_lead", "MIDI velocity", "voicing: top note of each chord minus the mean of its other notes"
    ),
    FeatureInfo("treble_bass_balance", "MIDI velocity", "mean velocity of notes from middle C up minus notes below it"),
    # articulation
    FeatureInfo(
        "articulation_ratio",
        "ratio",
        "median key-down duration divided by the IOI to the next chord (<1 detached, >1 overlapping)",
    ),
    FeatureInfo("staccato_fraction", "fraction", "notes released before half of the IOI to the next chord"),
    FeatureInfo(
        "legato_overlap_ms", "ms", "mean time a note is still held after the next chord starts (0 when released before)"
    ),
    FeatureInfo("overlap_fraction", "fraction", "notes still held when the next chord starts"),
    FeatureInfo("duration_median_beats", "beats", "median key-down duration in beats of the IOI tempo"),
    # pedals
    FeatureInfo("pedal_ratio", "fraction", "fraction of the performance with the sustain pedal (CC64 >= 64) down"),
    FeatureInfo("pedal_changes_per_s", "1/s", "sustain pedal presses per second"),
    FeatureInfo("pedal_depth_mean", "fraction", "mean sustain pedal depth (CC64 / 127) over the performance"),
    FeatureInfo(
        "pedal_partial_ratio",
        "fraction",
        "fraction of the performance with the sustain pedal part-way down (10 < CC64 < 64)",
    ),
    FeatureInfo("pedal_press_s", "s", "mean length of one sustain pedal press"),
    FeatureInfo(
        "pedal_delay_ms",
        "ms",
        "median delay from a chord onset to the next sustain pedal press (legato pedalling presses after the chord)",
    ),
    FeatureInfo(
        "pedal_sustain_ms", "ms", "mean time the sustain pedal keeps a note sounding after its key is released"
    ),
    FeatureInfo("blur_fraction", "fraction", "notes still sounding (key or pedal) when the chord after next starts"),
    FeatureInfo(
        "sounding_polyphony_mean",
        "notes",
        "mean number of notes sounding (held or sustained by the pedal) at each chord onset",
    ),
    FeatureInfo("soft_pedal_ratio", "fraction", "fraction of the performance with the soft pedal (CC67 >= 64) down"),
    # register and texture
    FeatureInfo("pitch_range", "semitones", "highest minus lowest pitch played"),
    FeatureInfo("pitch_mean", "MIDI note", "register: mean pitch (60 = middle C)"),
    FeatureInfo("pitch_p10", "MIDI note", "10th percentile of pitch (the bass)"),
    FeatureInfo("pitch_p90", "MIDI note", "90th percentile of pitch (the treble)"),
    FeatureInfo("note_density_per_s", "notes/s", "notes per second of performance"),
    FeatureInfo("polyphony_mean", "notes", "mean number of keys held at each chord onset"),
    FeatureInfo("duration_s", "s", "first onset to last release"),
)

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Pitch-class profile (key and mode): appended to the descriptors in the feature vector.
PROFILE: tuple[FeatureInfo, ...] = tuple(
    FeatureInfo(f"pitch_class_{name}", "fraction", f"share of key-down time on {name} (all octaves)")
    for name in PITCH_CLASSES
)

# Score-relative descriptors (features/score_relative.py): the take against its aligned score; all 0 in free play.
SCORE_DESCRIPTORS: tuple[FeatureInfo, ...] = (
    FeatureInfo(
        "score_matched_fraction", "fraction", "played notes matched to a written chord (0: free play, no score known)"
    ),
    FeatureInfo(
        "score_tempo_ratio",
        "log2",
        "the take's tempo (weighted median over steps through the score) against the tempo marked, log2",
    ),
    FeatureInfo(
        "score_tempo_flex",
        "log2",
        "rubato: spread (IQR / 1.349) of the local tempo over each quarter note of the score against the marking",
    ),
    FeatureInfo(
        "score_tempo_arc",
        "log2/window",
        "accelerando (+) or ritardando (-) against the score: slope of log2 local tempo along the score position",
    ),
    FeatureInfo(
        "score_timing_deviation_ms",
        "ms",
        "mean distance of each chord from where its neighbours put it on the score's metrical grid",
    ),
    FeatureInfo(
        "score_articulation_ratio",
        "ratio",
        "median key-down time over the notated duration at the take's tempo (<1 detached, >1 held over)",
    ),
    FeatureInfo(
        "score_articulation_spread", "log2", "spread (IQR) of log2 key-down time over notated duration across notes"
    ),
    FeatureInfo(
        "score_velocity_per_level",
        "MIDI velocity",
        "velocity gained per dynamic level marked (p -1, mf 0.5, f 1, ...; hairpins ramp), where the marks change",
    ),
    FeatureInfo(
        "score_velocity_marking_r", "r", "correlation of key velocity with the dynamic level marked, where it changes"
    ),
    FeatureInfo(
        "score_pedal_change_cleared",
        "fraction",
        "harmony changes of the score reached with the sustain pedal down where it is lifted from 0.1 s before to "
        "0.3 s after",
    ),
    FeatureInfo(
        "score_pedal_change_pressed",
        "fraction",
        "harmony changes of the score followed by a sustain pedal press within 0.6 s",
    ),
    FeatureInfo(
        "score_pedal_lifts_at_changes",
        "fraction",
        "sustain pedal lifts that fall at a harmony change of the score (the rest change the pedal within a harmony)",
    ),
)

DESCRIPTOR_NAMES: tuple[str, ...] = tuple(d.name for d in DESCRIPTORS)
SCORE_DESCRIPTOR_NAMES: tuple[str, ...] = tuple(d.name for d in SCORE_DESCRIPTORS)
VECTOR_NAMES: tuple[str, ...] = DESCRIPTOR_NAMES + tuple(p.name for p in PROFILE) + SCORE_DESCRIPTOR_NAMES

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
