"""Model inputs: the fixed-length descriptor vector and the per-note sequence.

Both are float32 and laid out as the feature settings say (names, order, normalisation), so a model
trained on the host sees exactly what the device computes.
"""

from __future__ import annotations

import numpy as np

from pianocoach.features.descriptors import chords_of, compute_descriptors, pitch_class_profile
from pianocoach.features.notes import NoteTable
from pianocoach.features.score_relative import ScoreContext, score_descriptors
from pianocoach.features.settings import DEFAULT_SETTINGS, FeatureSettings


def performance_values(table: NoteTable, settings: FeatureSettings = DEFAULT_SETTINGS) -> dict[str, float]:
    """The descriptors and pitch-class profile: what the notes alone give (the costly part; a window's are
    cached by the device, whose score-relative part changes once the take is aligned)."""
    return compute_descriptors(table, settings) | pitch_class_profile(table)


def feature_vector(
    table: NoteTable,
    settings: FeatureSettings = DEFAULT_SETTINGS,
    context: ScoreContext | None = None,
    performance: dict[str, float] | None = None,
) -> np.ndarray:
    """Descriptors, pitch-class profile and score-relative descriptors (0 without ``context``: free play) as a
    float32 vector in ``settings.vector_names`` order. ``performance``: the table's :func:`performance_values`,
    when already computed."""
    values = (performance or performance_values(table, settings)) | score_descriptors(table, context, settings)
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
