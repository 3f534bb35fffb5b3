"""The benchmarks of issue 19: the note comparison of `make eval-transcription` and the figures of
`make eval-pipeline`, on inputs whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from pianocoach.features import NoteTable
from pianocoach_train.metrics import r2_mean
from pianocoach_train.pipeline_eval import figures
from pianocoach_train.transcription_eval import compare, velocity_errors


def _table(onsets, offsets, pitches, velocities, pedal=()):
    return NoteTable.from_arrays(onsets, offsets, pitches, velocities, pedal_events=pedal)


def test_a_perfect_transcription_scores_1_and_offsets_are_the_sounding_ones():
    truth = _table([0.0, 0.5, 1.0], [0.4, 0.9, 1.4], [60, 64, 67], [40, 60, 80], pedal=[(0.0, 100), (2.0, 0)])
    # heard as sounding: every note held by the pedal to its release at 2 s
    same = _table([0.0, 0.5, 1.0], [2.0, 2.0, 2.0], [60, 64, 67], [40, 60, 80])
    row = compare(truth, same)
    assert row["onset"]["f1"] == 1.0 and row["onset_offset"]["f1"] == 1.0
    # the key releases are not what a listener hears under the pedal: the offsets no longer match
    keys = _table([0.0, 0.5, 1.0], [0.4, 0.9, 1.4], [60, 64, 67], [40, 60, 80])
    assert compare(truth, keys)["onset"]["f1"] == 1.0 and compare(truth, keys)["onset_offset"]["f1"] < 0.5


def test_a_late_or_wrong_note_is_a_miss_and_an_extra():
    truth = _table([0.0, 0.5, 1.0, 1.5], [0.4, 0.9, 1.4, 1.9], [60, 62, 64, 65], [50] * 4)
    found = _table([0.0, 0.58, 1.0, 1.5], [0.4, 0.9, 1.4, 1.9], [60, 62, 63, 65], [50] * 4)  # 80 ms late, a wrong
    row = compare(truth, found)
    assert row["onset"]["precision"] == row["onset"]["recall"] == pytest.approx(0.5)
    assert len(row["velocity_pairs"]) == 2


def test_velocity_errors_tell_a_rescaled_velocity_from_a_meaningless_one():
    rng = np.random.default_rng(0)
    true = rng.integers(20, 110, 400).astype(float)
    scaled = np.c_[true, 0.5 * true + 3]  # another scale, the same information
    noise = np.c_[true, rng.integers(20, 110, 400)]
    assert velocity_errors(scaled)["mae_mapped"] < 1e-6 < velocity_errors(scaled)["mae_raw"]
    meaningless = velocity_errors(noise)
    assert abs(meaningless["pearson"]) < 0.15 and meaningless["mae_mapped"] > 0.9 * meaningless["mae_constant"]


def test_pipeline_figures_split_by_take_length():
    rng = np.random.default_rng(1)
    labels = rng.normal(0.5, 0.1, (30, 19))
    durations = np.r_[np.full(10, 10.0), np.full(10, 30.0), np.full(10, 60.0)]
    predicted = labels + rng.normal(0, 0.05, labels.shape) * (durations[:, None] > 40)  # only the long ones err
    out = figures(labels, predicted, durations)
    assert out["r2"] == pytest.approx(round(r2_mean(labels, predicted), 4))
    assert [b["takes"] for b in out["by_length"]] == [10, 10, 10]
    assert out["by_length"][0]["r2"] == out["by_length"][1]["r2"] == 1.0 > out["by_length"][2]["r2"]


def test_note_ends_held_on_by_a_pedal_match_the_sounding_ends_only_when_the_pedal_is_right():
    from pianocoach_train.offset_analysis import duration_summary, take_figures

    played = _table([0.0, 0.5, 1.0], [0.4, 0.9, 1.4], [60, 64, 67], [40, 60, 80], pedal=[(0.0, 100), (2.0, 0)])
    keys = _table([0.0, 0.5, 1.0], [0.4, 0.9, 1.4], [60, 64, 67], [40, 60, 80])  # heard ending at the key releases
    right = take_figures(played, keys, np.array([[0.0, 127.0], [2.0, 0.0]]))
    assert right["offset_f1"]["heard"] < 0.5
    assert right["offset_f1"]["played_pedal"] == right["offset_f1"]["heard_pedal"] == 1.0
    assert right["pedal_held"] == [True, True, True] and right["sounding_s"] == pytest.approx([2.0, 1.5, 1.0])
    late = take_figures(played, keys, np.array([[0.0, 127.0], [4.0, 0.0]]))  # a release heard 2 s late
    assert late["offset_f1"]["heard_pedal"] < 0.5 and late["offset_f1"]["played_pedal"] == 1.0
    summary = duration_summary(np.array(right["sounding_s"]), np.array(right["heard_s"]))
    assert summary["heard_longer"] == 0.0 and summary["within_tolerance"] == 0.0 and summary["notes"] == 3
