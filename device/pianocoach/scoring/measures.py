"""The plain measurements a player understands, named with units: tempo and its steadiness, dynamic
range in velocity and dB, pedal use, articulation, note count, duration."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pianocoach.features import NoteTable, compute_descriptors
from pianocoach.scoring.notes_stream import SILENCE_DB


@dataclass(frozen=True)
class Measure:
    value: float
    unit: str
    label_en: str
    label_zh: str

    def to_dict(self) -> dict:
        return asdict(self)


def measures(table: NoteTable, frame_db: np.ndarray | None = None) -> dict[str, Measure]:
    """``frame_db``: loudness frames of the recording (audio input): the dB range is their 5th to 95th
    percentile. Without it the range is estimated from the 10th and 90th percentile key velocity (about
    40 dB over velocities 1-127 on a piano: dB = 40 log10(v2/v1))."""
    d = compute_descriptors(table)
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
        out["dynamic_range_db"] = Measure(round(float(np.percentile(sounding, 95) - np.percentile(sounding, 5)), 1), "dB",
                                          "dynamic range", "动态范围")
    else:
        low, high = max(1.0, d["velocity_p10"]), max(1.0, d["velocity_p90"])
        out["dynamic_range_db"] = Measure(round(40 * np.log10(high / low), 1), "dB",
                                          "dynamic range (est.)", "动态范围（估算）")
    return out
