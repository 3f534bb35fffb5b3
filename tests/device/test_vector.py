import dataclasses
import json

import numpy as np
import pytest
from midi_helpers import steady_scale

from pianocoach.features import (
    DEFAULT_SETTINGS,
    DESCRIPTOR_NAMES,
    NOTE_FEATURE_NAMES,
    SCORE_DESCRIPTOR_NAMES,
    FeatureSettings,
    NoteTable,
    compute_descriptors,
    feature_vector,
    note_sequence,
)


@pytest.fixture(scope="module")
def table():
    chords = [(t, t + 0.4, p, 50) for t in (0.0, 0.5) for p in (48, 52, 55)]
    return NoteTable.from_notes(chords + steady_scale(count=8, start=1.0), pedal_events=[(0.0, 127), (0.9, 0)])


def test_vector_is_descriptors_then_pitch_class_profile_then_score_relative(table):
    vector = feature_vector(table)
    descriptors = compute_descriptors(table)
    names = DEFAULT_SETTINGS.vector_names
    assert vector.dtype == np.float32
    assert vector.shape == (len(DESCRIPTOR_NAMES) + 12 + len(SCORE_DESCRIPTOR_NAMES),) == (len(names),)
    assert np.allclose(vector[: len(DESCRIPTOR_NAMES)], [descriptors[n] for n in DESCRIPTOR_NAMES], rtol=1e-6)
    assert names[-len(SCORE_DESCRIPTOR_NAMES) :] == SCORE_DESCRIPTOR_NAMES
    assert not vector[-len(SCORE_DESCRIPTOR_NAMES) :].any()  # no score given: free play
    profile_columns = slice(len(DESCRIPTOR_NAMES), len(DESCRIPTOR_NAMES) + 12)
    profile = dict(zip(names[profile_columns], vector[profile_columns]))
    assert sum(profile.values()) == pytest.approx(1.0)
    # C major chords (C E G) held 0.4 s each, then a C-major scale: no black keys at all
    assert profile["pitch_class_C#"] == 0.0 and profile["pitch_class_C"] > profile["pitch_class_D"]


def test_note_sequence_layout(table):
    seq = note_sequence(table)
    assert seq.dtype == np.float32
    assert seq.shape == (len(table), len(NOTE_FEATURE_NAMES))
    col = {name: seq[:, i] for i, name in enumerate(NOTE_FEATURE_NAMES)}
    assert np.allclose(col["pitch"], (table.pitch - 21) / 87)
    assert np.allclose(col["velocity"], table.velocity / 127)
    assert np.allclose(col["pedal"][:6], 1.0) and np.allclose(col["pedal"][6:], 0.0)
    assert col["ioi"][0] == 0.0 and np.all(col["ioi"] >= 0)
    assert np.all(col["chord_offset"] == 0.0)  # every chord here is struck together
    assert np.allclose(col["articulation"][:3], 0.8)  # held 0.4 s, next chord 0.5 s later


def test_settings_hash_is_stable_and_sensitive():
    same = FeatureSettings()
    assert same.sha256() == DEFAULT_SETTINGS.sha256()
    assert len(DEFAULT_SETTINGS.sha256()) == 64
    changed = dataclasses.replace(DEFAULT_SETTINGS, hop_length=256)
    assert changed.sha256() != DEFAULT_SETTINGS.sha256()
    reordered = dataclasses.replace(DEFAULT_SETTINGS, vector_names=DEFAULT_SETTINGS.vector_names[::-1])
    assert reordered.sha256() != DEFAULT_SETTINGS.sha256()


def test_settings_round_trip_through_json():
    data = json.loads(DEFAULT_SETTINGS.canonical_json())
    assert FeatureSettings.from_dict(data) == DEFAULT_SETTINGS
    assert FeatureSettings.from_dict(data).sha256() == DEFAULT_SETTINGS.sha256()
