import numpy as np
import pytest
from midi_helpers import steady_scale

from pianocoach.features import (
    AugmentRanges,
    NoteTable,
    compute_descriptors,
    random_augment,
    scale_tempo,
    scale_velocity,
    transpose,
)


@pytest.fixture(scope="module")
def played_scale():
    return NoteTable.from_notes(steady_scale(count=16), pedal_events=[(1.0, 127), (3.0, 0)])


def test_transpose_shifts_pitch_and_clips_to_the_piano(played_scale):
    assert (transpose(played_scale, 3).pitch == played_scale.pitch + 3).all()
    assert transpose(played_scale, 60).pitch.max() == 108
    assert transpose(played_scale, -60).pitch.min() == 21
    assert np.array_equal(transpose(played_scale, 3).onset, played_scale.onset)


def test_tempo_scale_moves_every_time_including_the_pedal(played_scale):
    faster = scale_tempo(played_scale, 1.25)
    assert np.allclose(faster.onset, played_scale.onset / 1.25)
    assert np.allclose(faster.offset, played_scale.offset / 1.25)
    assert np.allclose(faster.pedal_events[:, 0], [0.8, 2.4])
    assert compute_descriptors(faster)["tempo_ioi_bpm"] == pytest.approx(150, abs=0.5)
    with pytest.raises(ValueError, match="tempo factor"):
        scale_tempo(played_scale, 0)


def test_velocity_scale_and_offset_clip_to_1_127(played_scale):
    assert (scale_velocity(played_scale, 1.0, 10).velocity == played_scale.velocity + 10).all()
    assert scale_velocity(played_scale, 10.0).velocity.max() == 127
    assert scale_velocity(played_scale, 1.0, -200).velocity.min() == 1


def test_random_augment_is_seeded_and_within_ranges(played_scale):
    ranges = AugmentRanges(semitones=2, tempo=0.1, velocity_scale=0.1, velocity_offset=5)
    a = random_augment(played_scale, np.random.default_rng(7), ranges)
    b = random_augment(played_scale, np.random.default_rng(7), ranges)
    assert np.array_equal(a.pitch, b.pitch) and np.array_equal(a.onset, b.onset)
    shift = set((a.pitch - played_scale.pitch).tolist())
    assert len(shift) == 1 and abs(shift.pop()) <= 2
    ratio = (a.onset[-1] - a.onset[0]) / (played_scale.onset[-1] - played_scale.onset[0])
    assert 1 / 1.1 - 1e-9 <= ratio <= 1 / 0.9 + 1e-9
    assert len(a) == len(played_scale)


def test_tempo_change_leaves_dynamics_and_pitch_unchanged(played_scale):
    before = compute_descriptors(played_scale)
    after = compute_descriptors(scale_tempo(played_scale, 0.8))
    for name in (
        "velocity_mean",
        "velocity_std",
        "velocity_range",
        "pitch_mean",
        "pitch_range",
        "articulation_ratio",
        "pedal_ratio",
    ):
        assert after[name] == pytest.approx(before[name]), name
    assert after["duration_s"] == pytest.approx(before["duration_s"] / 0.8)
