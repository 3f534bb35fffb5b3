"""MIDI augmentation for training: transpose, change tempo, change dynamics.

Each function returns a new, cleaned :class:`NoteTable`; values are clipped to the valid range
(pitch to the piano range of the settings, velocity to 1..127).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pianocoach.features.notes import NoteTable
from pianocoach.features.settings import DEFAULT_SETTINGS, FeatureSettings


def transpose(table: NoteTable, semitones: int, settings: FeatureSettings = DEFAULT_SETTINGS) -> NoteTable:
    pitch = np.clip(table.pitch.astype(np.int64) + int(semitones), settings.pitch_min, settings.pitch_max)
    return table.with_columns(pitch=pitch)


def scale_tempo(table: NoteTable, factor: float) -> NoteTable:
    """Play ``factor`` times as fast (1.1 = 10 % faster): every time, pedal included, is divided by it."""
    if not factor > 0:
        raise ValueError(f"tempo factor must be > 0, got {factor}")
    pedal, soft = table.pedal_events.copy(), table.soft_pedal_events.copy()
    pedal[:, 0] /= factor
    soft[:, 0] /= factor
    return table.with_columns(
        onset=table.onset / factor, offset=table.offset / factor, pedal_events=pedal, soft_pedal_events=soft
    )


def scale_velocity(table: NoteTable, scale: float = 1.0, offset: float = 0.0) -> NoteTable:
    velocity = np.clip(np.round(table.velocity * scale + offset), 1, 127)
    return table.with_columns(velocity=velocity)


@dataclass(frozen=True)
class AugmentRanges:
    """Uniform ranges a random augmentation draws from."""

    semitones: int = 3  # transpose by -3..+3
    tempo: float = 0.1  # tempo factor 0.9..1.1
    velocity_scale: float = 0.15  # velocity x 0.85..1.15
    velocity_offset: float = 8.0  # velocity + -8..+8


def random_augment(
    table: NoteTable,
    rng: np.random.Generator,
    ranges: AugmentRanges = AugmentRanges(),
    settings: FeatureSettings = DEFAULT_SETTINGS,
) -> NoteTable:
    table = transpose(table, int(rng.integers(-ranges.semitones, ranges.semitones + 1)), settings)
    table = scale_tempo(table, float(rng.uniform(1 - ranges.tempo, 1 + ranges.tempo)))
    return scale_velocity(
        table,
        float(rng.uniform(1 - ranges.velocity_scale, 1 + ranges.velocity_scale)),
        float(rng.uniform(-ranges.velocity_offset, ranges.velocity_offset)),
    )
