"""The plain measurements a player understands, named with units: tempo and its steadiness, dynamic
range in velocity and dB, pedal use, articulation, note count, duration.

They are measured over the whole take with the descriptor code's own functions (so a measurement quoted
in the feedback is the descriptor of the same name), but only those that cost time linear in the notes:
the beat tracker (memory grows with the take's span) and the phrase dynamics (the square of the chords)
are for the scoring windows, never for an hour-long take."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pianocoach.features import DEFAULT_SETTINGS, NoteTable
from pianocoach.features.descriptors import articulation, chords_of, ioi_tempo, pedal_use
from pianocoach.scoring.notes_stream import SILENCE_DB


@dataclass(frozen=True)
class Measure:
    value: float
    unit: str
    label_en: str
    label_zh: str
    estimated: bool = False  # derived, not measured (the dB range from key velocities)

    def to_dict(self) -> dict:
        return asdict(self)


def measures(table: NoteTable, frame_db: np.ndarray | None = None) -> dict[str, Measure]:
    """``frame_db``: loudness frames of the recording (audio input): the dB range is their 5th to 95th
    percentile. Without it the range is estimated from the 10th and 90th percentile key velocity (about
    40 dB over velocities 1-127 on a piano: dB = 40 log10(v2/v1))."""
    d = linear_descriptors(table)
    out = {
        "duration_s": Measure(round(d["duration_s"], 2), "s", "duration", "时长"),
        "note_count": Measure(float(len(table)), "notes", "notes", "音符数"),
        "tempo_bpm": Measure(round(d["tempo_ioi_bpm"], 1), "BPM", "tempo", "速度"),
        "tempo_variation_pct": Measure(round(100 * d["tempo_ioi_cv"], 1), "%", "tempo variation", "速度波动"),
        "velocity_range": Measure(round(d["velocity_range"], 1), "MIDI velocity", "velocity range", "力度范围"),
        "pedal_down_pct": Measure(round(100 * d["pedal_ratio"], 1), "%", "pedal down", "踏板踩下"),
        "pedal_changes_per_s": Measure(round(d["pedal_changes_per_s"], 2), "1/s", "pedal changes", "换踏板频率"),
        # key-down time over the time to the next chord: below 1 detached, above 1 legato
        "articulation_ratio": Measure(round(d["articulation_ratio"], 2), "ratio", "articulation", "连断比"),
        "staccato_pct": Measure(round(100 * d["staccato_fraction"], 1), "%", "detached notes", "断奏音比例"),
    }
    if frame_db is not None and len(frame_db) and (np.asarray(frame_db) > SILENCE_DB).any():
        sounding = np.asarray(frame_db)[np.asarray(frame_db) > SILENCE_DB]
        out["dynamic_range_db"] = Measure(
            round(float(np.percentile(sounding, 95) - np.percentile(sounding, 5)), 1), "dB", "dynamic range", "动态范围"
        )
    else:
        low, high = max(1.0, d["velocity_p10"]), max(1.0, d["velocity_p90"])
        out["dynamic_range_db"] = Measure(
            round(40 * np.log10(high / low), 1), "dB", "dynamic range (est.)", "动态范围（估算）", estimated=True
        )
    return out


def linear_descriptors(table: NoteTable) -> dict[str, float]:
    """The descriptors the measurements quote, as :func:`compute_descriptors` computes them."""
    settings = DEFAULT_SETTINGS
    chords = chords_of(table, settings)
    tempo = ioi_tempo(chords, settings)
    art = articulation(table, chords)
    pedal = pedal_use(table.pedal_events, table.start, table.end, settings.pedal_threshold)
    velocity = table.velocity.astype(np.float64)
    return {
        "duration_s": float(table.end - table.start),
        "tempo_ioi_bpm": tempo.bpm,
        "tempo_ioi_cv": tempo.cv,
        "velocity_range": float(np.percentile(velocity, 95) - np.percentile(velocity, 5)),
        "velocity_p10": float(np.percentile(velocity, 10)),
        "velocity_p90": float(np.percentile(velocity, 90)),
        "pedal_ratio": pedal.down_ratio,
        "pedal_changes_per_s": pedal.presses_per_s,
        "articulation_ratio": art.ratio,
        "staccato_fraction": art.staccato_fraction,
    }
