"""The feature code, computed identically on the host (training) and on the device (scoring)."""

from pianocoach.features.augment import AugmentRanges, random_augment, scale_tempo, scale_velocity, transpose
from pianocoach.features.catalog import (
    DESCRIPTOR_NAMES,
    DESCRIPTORS,
    NOTE_FEATURE_NAMES,
    NOTE_FEATURES,
    PROFILE,
    SCORE_DESCRIPTOR_NAMES,
    SCORE_DESCRIPTORS,
    VECTOR_NAMES,
)
from pianocoach.features.descriptors import compute_descriptors
from pianocoach.features.notes import Note, NoteTable, read_midi
from pianocoach.features.score_relative import ScoreContext, score_descriptors, without_score
from pianocoach.features.settings import DEFAULT_SETTINGS, FeatureSettings
from pianocoach.features.vector import feature_vector, note_sequence, performance_values

__all__ = [
    "AugmentRanges",
    "DEFAULT_SETTINGS",
    "DESCRIPTORS",
    "DESCRIPTOR_NAMES",
    "FeatureSettings",
    "NOTE_FEATURES",
    "NOTE_FEATURE_NAMES",
    "Note",
    "NoteTable",
    "PROFILE",
    "SCORE_DESCRIPTOR_NAMES",
    "SCORE_DESCRIPTORS",
    "ScoreContext",
    "VECTOR_NAMES",
    "compute_descriptors",
    "feature_vector",
    "note_sequence",
    "performance_values",
    "score_descriptors",
    "without_score",
    "random_augment",
    "read_midi",
    "scale_tempo",
    "scale_velocity",
    "transpose",
]
