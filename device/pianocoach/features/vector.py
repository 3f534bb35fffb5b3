"""Model inputs: the fixed-length descriptor vector and the per-note sequence.

Both are float32 and laid out as the feature settings say (names, order, normalisation), so a model
trained on the host sees exactly what the device computes.
"""

from __future__ import annotations

import numpy as np

from pianocoach.features.descriptors import chords_of, compute_descriptors, pitch_class_profile
from pianocoach.features.notes import NoteTable
from pianocoach.features.settings import DEFAULT_SETTINGS, FeatureSettings


def feature_vector(table: NoteTable, settings: FeatureSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Descriptors and pitch-class profile as a float32 vector in ``settings.vector_names`` order."""
    values = compute_descriptors(table, settings) | pitch_class_profile(table)
    return np.array([values[name] for name in settings.vector_names], dtype=np.float32)


def note_sequence(table: NoteTable, settings: FeatureSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """One row per note (onset order), columns in ``settings.note_feature_names`` order; shape (notes, features)."""
    chords = chords_of(table, settings)
    scale = settings.time_scale_s
    chord_ioi = chords.ioi
    # a chord's IOI is the time to the next chord; the last chord borrows the median IOI
    fallback = float(np.median(chord_ioi)) if len(chord_ioi) else 0.0
    ioi_next = np.append(chord_ioi, fallback)[chords.index]
    with np.errstate(divide="ignore", invalid="ignore"):
        articulation = np.where(ioi_next > 0, table.duration / ioi_next, 1.0)
    columns = {
        "pitch": (table.pitch - settings.pitch_min) / (settings.pitch_max - settings.pitch_min),
        "velocity": table.velocity / 127.0,
        "ioi": np.log1p(np.diff(table.onset, prepend=table.onset[0]) / scale),
        "duration": np.log1p(table.duration / scale),
        "articulation": np.clip(articulation, 0.0, settings.max_articulation),
        "pedal": table.pedal / 127.0,
        "chord_offset": np.log1p((table.onset - chords.onset[chords.index]) / scale),
    }
    columns["pitch"] = np.clip(columns["pitch"], 0.0, 1.0)
    return np.stack([columns[name] for name in settings.note_feature_names], axis=1).astype(np.float32)
