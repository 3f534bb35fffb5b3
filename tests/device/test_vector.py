import dataclasses
import json

import numpy as np
import pytest

from conftest import steady_scale
from pianocoach.features import (
    DEFAULT_SETTINGS,
    NOTE_FEATURE_NAMES,
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


def test_vector_is_the_descriptors_in_settings_order(table):
    vector = feature_vector(table)
    descriptors = compute_descriptors(table)
    assert vector.dtype == np.float32
    assert vector.shape == (len(DEFAULT_SETTINGS.descriptor_names),)
    assert np.allclose(vector, [descriptors[n] for n in DEFAULT_SETTINGS.descriptor_names], rtol=1e-6)


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
    reordered = dataclasses.replace(DEFAULT_SETTINGS, descriptor_names=DEFAULT_SETTINGS.descriptor_names[::-1])
    assert reordered.sha256() != DEFAULT_SETTINGS.sha256()


def test_settings_round_trip_through_json():
    data = json.loads(DEFAULT_SETTINGS.canonical_json())
    assert FeatureSettings.from_dict(data) == DEFAULT_SETTINGS
    assert FeatureSettings.from_dict(data).sha256() == DEFAULT_SETTINGS.sha256()
