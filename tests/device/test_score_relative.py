"""Score-relative descriptors (issue 18, item 5): a take aligned with its score, measured against what is written.

The score is built here: 8 bars of 4/4 at a marked 120 quarter notes a minute, a melody in quarter notes over
half-note fifths in the bass whose harmony changes every bar, p for bars 1-4 and f for bars 5-8. Each take is that
score played with one thing changed, so the answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from pianocoach.features import SCORE_DESCRIPTOR_NAMES, NoteTable, feature_vector, score_descriptors, without_score
from pianocoach.features.settings import DEFAULT_SETTINGS
from pianocoach.repertoire.align import align
from pianocoach.repertoire.context import dynamic_levels, harmony_changes, score_context
from pianocoach.repertoire.score import Bar, Marking, Score
from pianocoach.repertoire.unfold import played_score

BARS = 8
MELODY = (72, 74, 76, 77, 79, 77, 76, 74)
BASS = (48, 53, 55, 48, 45, 50, 43, 48)  # C F G C A D G C: a new harmony every bar


def _score(markings: list[Marking] | None = None) -> Score:
    onset, duration, pitch, staff, bar = [], [], [], [], []
    for b in range(BARS):
        for beat in range(4):
            onset.append(4.0 * b + beat), duration.append(1.0), staff.append(1), bar.append(b)
            pitch.append(MELODY[(b + beat) % len(MELODY)])
        for half in range(2):
            for fifth in (0, 7):  # root and fifth together, twice a bar: one harmony a bar
                onset.append(4.0 * b + 2 * half), duration.append(2.0), staff.append(2), bar.append(b)
                pitch.append(BASS[b] + fifth)
    order = np.lexsort((pitch, onset))
    default = [
        Marking(0.0, "tempo", 120.0),
        Marking(0.0, "dynamic", text="p"),
        Marking(16.0, "dynamic", text="f"),
    ]
    return Score(
        "test piece",
        "",
        np.asarray(onset)[order],
        np.asarray(duration)[order],
        np.asarray(pitch, dtype=np.int16)[order],
        np.asarray(staff, dtype=np.int8)[order],
        np.asarray(bar, dtype=np.int32)[order],
        [Bar(str(b + 1), 4.0 * b, 4.0, 4, 4) for b in range(BARS)],
        default if markings is None else markings,
    )


def _take(
    score: Score,
    seconds_per_q: float = 0.5,
    jitter_s: float = 0.0,
    slowing: float = 0.0,
    held: float = 0.95,
    loud: tuple[int, int] = (60, 60),
    pedal: str = "none",
) -> NoteTable:
    """The score played: ``slowing`` stretches each quarter note by that share more than the one before it,
    ``held`` is the share of the notated length a key stays down, ``loud`` the velocities of the p and f halves;
    ``pedal`` "changes" lifts and presses it at each bar, "held" keeps it down throughout."""
    rng = np.random.default_rng(0)
    q = score.onset_q
    stretch = seconds_per_q * (1.0 + slowing) ** np.arange(4 * BARS + 1)
    at = np.concatenate([[0.0], np.cumsum(stretch)])  # seconds at each quarter-note boundary
    onset = np.interp(q, np.arange(len(at)), at) + rng.uniform(-jitter_s, jitter_s, len(q))
    end = np.interp(q + held * score.duration_q, np.arange(len(at)), at)
    onset -= onset.min()
    velocity = np.where(q < 16.0, loud[0], loud[1])
    events: list[tuple[float, int]] = []
    if pedal == "changes":  # legato pedalling: up just after each bar's first chord, down again at once
        for b in range(BARS):
            t = float(np.interp(4.0 * b, np.arange(len(at)), at))
            events += [(t + 0.05, 0), (t + 0.15, 127)] if b else [(t + 0.15, 127)]
    elif pedal == "held":
        events = [(0.0, 127)]
    return NoteTable.from_arrays(onset, np.maximum(end, onset + 0.05), score.pitch, velocity, pedal_events=events)


def _measured(score: Score, take: NoteTable) -> dict[str, float]:
    order = np.lexsort((take.pitch, take.onset))
    assert np.array_equal(order, np.arange(len(take)))  # the table keeps the notes in onset order
    context = score_context(align(played_score(score), take.onset, take.pitch))
    return score_descriptors(take, context)


def test_a_take_as_written_is_on_the_grid_at_the_marked_tempo() -> None:
    score = _score()
    found = _measured(score, _take(score))
    assert found["score_matched_fraction"] == 1.0
    assert abs(found["score_tempo_ratio"]) < 0.02
    assert found["score_timing_deviation_ms"] < 1.0
    assert found["score_tempo_flex"] < 0.01 and abs(found["score_tempo_arc"]) < 0.01
    assert found["score_articulation_ratio"] == pytest.approx(0.95, abs=0.02)


def test_tempo_against_the_marking() -> None:
    score = _score()
    assert _measured(score, _take(score, seconds_per_q=1.0))["score_tempo_ratio"] == pytest.approx(-1.0, abs=0.02)
    assert _measured(score, _take(score, seconds_per_q=0.4))["score_tempo_ratio"] == pytest.approx(0.32, abs=0.02)
    unmarked = _score([Marking(0.0, "dynamic", text="p")])
    assert _measured(unmarked, _take(unmarked, seconds_per_q=1.0))["score_tempo_ratio"] == 0.0  # nothing to compare


def test_timing_off_the_grid_and_a_ritardando() -> None:
    score = _score()
    loose = _measured(score, _take(score, jitter_s=0.04))
    assert 10.0 < loose["score_timing_deviation_ms"] < 60.0
    assert loose["score_tempo_flex"] > 0.05
    slowing = _measured(score, _take(score, slowing=0.02))
    assert slowing["score_tempo_arc"] < -0.3  # slower and slower along the score
    # a smooth ritardando stays near the grid as it stretches (each beat 2 % longer: 5-10 ms off the straight line)
    assert slowing["score_timing_deviation_ms"] < min(10.0, loose["score_timing_deviation_ms"] / 2)


def test_velocity_against_the_dynamics_marked() -> None:
    score = _score()
    following = _measured(score, _take(score, loud=(50, 90)))
    assert following["score_velocity_per_level"] == pytest.approx(20.0, abs=1.0)  # p -1 to f +1: 40 velocity
    assert following["score_velocity_marking_r"] > 0.99
    flat = _measured(score, _take(score, loud=(70, 70)))
    assert flat["score_velocity_per_level"] == 0.0 and flat["score_velocity_marking_r"] == 0.0


def test_articulation_against_the_notated_durations() -> None:
    score = _score()
    assert _measured(score, _take(score, held=0.4))["score_articulation_ratio"] == pytest.approx(0.4, abs=0.03)
    assert _measured(score, _take(score, held=1.2))["score_articulation_ratio"] == pytest.approx(1.2, abs=0.05)


def test_pedal_against_the_harmony_changes() -> None:
    score = _score()
    assert harmony_changes(played_score(score)).sum() == BARS - 1  # each bar after the first
    changing = _measured(score, _take(score, pedal="changes"))
    assert changing["score_pedal_change_cleared"] == 1.0 and changing["score_pedal_lifts_at_changes"] == 1.0
    assert changing["score_pedal_change_pressed"] == 1.0
    blurred = _measured(score, _take(score, pedal="held"))
    assert blurred["score_pedal_change_cleared"] == 0.0 and blurred["score_pedal_change_pressed"] == 0.0
    dry = _measured(score, _take(score))
    assert dry["score_pedal_change_cleared"] == 0.0 and dry["score_pedal_lifts_at_changes"] == 0.0


def test_dynamic_levels_follow_marks_and_hairpins() -> None:
    score = _score(
        [
            Marking(0.0, "dynamic", text="p"),
            Marking(4.0, "wedge", text="crescendo"),
            Marking(8.0, "wedge", text="stop"),
            Marking(16.0, "dynamic", text="ff"),
            Marking(20.0, "dynamic", text="sfz"),  # an accent, not a level
        ]
    )
    levels = dynamic_levels(score)
    at = {float(q): float(v) for q, v in zip(score.onset_q, levels)}
    assert at[0.0] == -1.0 and at[6.0] == pytest.approx(-0.5) and at[12.0] == 0.0 and at[20.0] == 2.0
    assert np.isnan(dynamic_levels(_score([Marking(0.0, "tempo", 90.0)]))).all()


def test_free_play_and_the_free_play_copy() -> None:
    score = _score()
    take = _take(score, jitter_s=0.02, loud=(50, 90), pedal="changes")
    assert set(score_descriptors(take, None).values()) == {0.0}
    aligned = feature_vector(take, context=score_context(align(played_score(score), take.onset, take.pitch)))
    free = feature_vector(take)
    names = DEFAULT_SETTINGS.vector_names
    columns = [names.index(n) for n in SCORE_DESCRIPTOR_NAMES]
    assert np.count_nonzero(aligned[columns]) >= 10 and not np.any(free[columns])
    others = [i for i in range(len(names)) if i not in columns]
    assert np.array_equal(aligned[others], free[others])  # the notes' own descriptors do not depend on the score
    assert np.array_equal(without_score(aligned[None])[0], free)
    assert names[-len(SCORE_DESCRIPTOR_NAMES) :] == SCORE_DESCRIPTOR_NAMES  # appended: older models read a prefix


def test_a_context_of_another_take_is_refused() -> None:
    score = _score()
    take = _take(score)
    context = score_context(align(played_score(score), take.onset, take.pitch))
    with pytest.raises(ValueError, match="a score context of 64 notes for 63 notes played"):
        score_descriptors(
            NoteTable.from_arrays(take.onset[1:], take.offset[1:], take.pitch[1:], take.velocity[1:]), context
        )
    assert len(context.window(4, 10)) == 6


def test_pianocoach_features_with_a_score_prints_the_score_relative_descriptors(tmp_path):
    import json
    import subprocess
    import sys

    from fundamentals_takes import ODE, ode_take

    take = ode_take(tmp_path / "take.mid", wrong_bar=None, stop_before=None)
    cli = [sys.executable, "-m", "pianocoach.cli", "features", str(take), "--json"]
    run = subprocess.run(cli + ["--score", str(ODE)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)["descriptors"]
    assert found["score_matched_fraction"] == 1.0 and abs(found["score_tempo_ratio"]) < 0.05
    assert set(SCORE_DESCRIPTOR_NAMES) <= set(found)
    plain = json.loads(subprocess.run(cli, capture_output=True, text=True, timeout=120, check=True).stdout)
    assert not set(SCORE_DESCRIPTOR_NAMES) & set(plain["descriptors"])
    bad = tmp_path / "score.musicxml"
    bad.write_text("<not a score")
    refused = subprocess.run(cli + ["--score", str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode != 0 and refused.stderr.count("\n") == 1 and str(bad) in refused.stderr
