"""The numbers a note-end model reads (pianocoach.features.note_ends): what comes next, the pedal, the decay."""

from __future__ import annotations

import numpy as np
import pytest

from pianocoach.features.note_ends import (
    FEATURE_NAMES,
    FRAME_SECONDS,
    HORIZON_S,
    LONGEST_NOTE_S,
    note_end_features,
    sounding_ends,
)
from pianocoach.features.note_velocity import harmonic_bands, onset_frame
from pianocoach.features.notes import NoteTable
from pianocoach.features.sound_profile import MEL_BANDS

COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _frames(seconds: float, level: float = -40.0) -> np.ndarray:
    return np.full((MEL_BANDS, int(seconds / FRAME_SECONDS) + 1), level, dtype=np.float32)


def test_what_comes_next_at_the_same_pitch_and_at_all():
    table = NoteTable.from_arrays([0.0, 0.5, 1.5, 1.51], [0.4, 1.0, 2.0, 2.0], [60, 64, 60, 67], [60] * 4)
    features = note_end_features(table, np.zeros(60), _frames(3.0))
    same = np.exp(features[:, COLUMN["log_to_next_same_pitch"]])
    assert same == pytest.approx([1.5, HORIZON_S, HORIZON_S, HORIZON_S], rel=1e-5)
    following = np.exp(features[:, COLUMN["log_to_next_onset"]])
    # the last two notes are one chord (10 ms apart): neither is the other's next onset
    assert following == pytest.approx([0.5, 1.0, HORIZON_S, HORIZON_S], rel=1e-5)
    assert features[0, COLUMN["gap_after_seconds"]] == pytest.approx(0.1, abs=1e-5)
    assert features[:, COLUMN["sounding_at_onset"]].tolist() == [1.0, 1.0, 1.0, 2.0]


def test_the_pedal_at_the_heard_end_and_how_long_until_it_comes_up():
    frames = _frames(4.0)
    pedal = np.zeros(frames.shape[1])
    up_frame = int(2.5 / FRAME_SECONDS)
    pedal[:up_frame] = 0.9  # down until 2.5 s
    table = NoteTable.from_arrays([0.2, 3.0], [1.0, 3.5], [60, 62], [60, 60])
    features = note_end_features(table, pedal, frames)
    assert features[0, COLUMN["pedal_at_end"]] == pytest.approx(0.9)
    assert features[1, COLUMN["pedal_at_end"]] == 0.0
    end_frame = int(onset_frame(np.array([1.0]))[0])  # the frame centred nearest the heard end
    assert features[0, COLUMN["seconds_to_pedal_up"]] == pytest.approx((up_frame - end_frame) * FRAME_SECONDS, rel=1e-5)
    assert features[1, COLUMN["seconds_to_pedal_up"]] == 0.0
    # down from start to end, or down again after the last note ends: it never comes up in the take
    never = note_end_features(table, np.full(frames.shape[1], 0.9), frames)
    assert never[:, COLUMN["seconds_to_pedal_up"]].tolist() == [HORIZON_S, HORIZON_S]
    pedal[up_frame + 5 :] = 0.9
    late = note_end_features(table, pedal, frames)
    assert late[1, COLUMN["seconds_to_pedal_up"]] == HORIZON_S


def test_a_damped_note_drops_after_its_end_and_the_microphone_gain_cancels():
    frames = _frames(3.0, level=-80.0)
    table = NoteTable.from_arrays([0.5], [1.5], [60], [60])
    band = int(harmonic_bands(np.array([60]))[0, 0])
    start, stop = int(onset_frame(np.array([0.5]))[0]), int(onset_frame(np.array([1.5]))[0])
    frames[band, start : stop + 1] = np.linspace(-20.0, -35.0, stop + 1 - start)  # struck, fading, then damped
    features = note_end_features(table, np.zeros(frames.shape[1]), frames)
    assert features[0, COLUMN["end_level_against_strike_db"]] == pytest.approx(-15.0, abs=0.01)
    assert features[0, COLUMN["level_after_end_against_end_db"]] == pytest.approx(-45.0, abs=0.01)
    louder = note_end_features(table, np.zeros(frames.shape[1]), frames + 20.0)
    assert np.array_equal(features, louder)


def test_without_frames_nothing_is_read_and_wrong_frames_are_refused():
    table = NoteTable.from_arrays([0.0], [0.5], [60], [60])
    empty = note_end_features(table, np.zeros(0), _frames(1.0)[:, :0])
    assert empty.shape == (1, len(FEATURE_NAMES)) and np.isnan(empty).all()
    for wrong in (np.zeros((12, 10), np.float32), np.zeros((12, 0), np.float32), np.zeros(10, np.float32)):
        with pytest.raises(ValueError, match="bands a frame"):
            note_end_features(table, np.zeros(10), wrong)


def test_notes_past_the_last_frame_read_the_last_frame_and_nothing_following_is_a_full_horizon():
    frames = _frames(1.0)
    table = NoteTable.from_arrays([0.2, 5.0], [0.6, 40.0], [60, 62], [60, 60])  # the second far past the frames
    features = note_end_features(table, np.full(frames.shape[1], 0.9), frames)
    assert np.isfinite(features).all()
    assert features[1, COLUMN["pedal_at_onset"]] == features[1, COLUMN["pedal_at_end"]] == pytest.approx(0.9)
    assert features[1, COLUMN["gap_after_seconds"]] == HORIZON_S  # nothing follows: not an overlap
    assert features[1, COLUMN["log_heard_seconds"]] == pytest.approx(np.log(HORIZON_S))


def test_sounding_ends_scale_the_heard_length_within_bounds():
    table = NoteTable.from_arrays([0.0, 1.0, 2.0], [0.5, 1.2, 3.0], [60, 62, 64], [60] * 3)
    assert sounding_ends(table, np.zeros(3)) == pytest.approx(table.offset)
    assert sounding_ends(table, np.log([2.0, 0.5, 1.0])) == pytest.approx([1.0, 1.1, 3.0])
    assert sounding_ends(table, np.array([50.0, -50.0, 0.0]))[:2] == pytest.approx([LONGEST_NOTE_S, 1.01])


def test_an_end_stops_where_its_pitch_is_struck_again():
    """A MIDI file cannot hold one key twice: a note held past the next strike of its pitch ends at that strike."""
    table = NoteTable.from_arrays([0.0, 0.5, 1.0], [0.4, 0.7, 1.3], [60, 64, 60], [60] * 3)
    ends = sounding_ends(table, np.log([4.0, 4.0, 4.0]))  # every note four times as long as heard
    assert ends == pytest.approx([1.0, 1.3, 2.2])  # the first C cut at the second; E and the last C not
