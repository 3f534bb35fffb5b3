"""The score's notes laid on a take's time line (the piano roll's faint layer), on takes of the built-in Ode to Joy
whose timing is known by construction: played as written, with a stop, with a chord left out, with a restart."""

from __future__ import annotations

import numpy as np

from pianocoach.repertoire import read_musicxml
from pianocoach.repertoire.align import align
from pianocoach.repertoire.score_roll import score_notes_in_take
from pianocoach.repertoire.store import BUILTIN_DIR
from pianocoach.repertoire.unfold import played_score

ODE = BUILTIN_DIR / "ode-to-joy.musicxml"
S_PER_Q = 0.5


def written_notes(played) -> list[tuple[float, float, int, int]]:
    """Every written note in played order: (onset s, length s, pitch, played bar position) at S_PER_Q."""
    score = played.score
    out = []
    for q, members, position in zip(played.chord_q, played.chord_notes, played.chord_bar):
        for note in members:
            out.append((q * S_PER_Q, score.duration_q[note] * S_PER_Q, int(score.pitch[note]), int(position)))
    return out


def as_rows(notes) -> np.ndarray:
    return np.array(sorted((round(a * 1000), round(d * 1000), p) for a, d, p, *_ in notes))


def roll_of(played, notes) -> np.ndarray:
    onsets = np.array([n[0] for n in notes])
    pitches = np.array([n[2] for n in notes])
    order = np.lexsort((pitches, onsets))
    return np.array(score_notes_in_take(align(played, onsets[order], pitches[order]), limit=10_000))


def test_a_take_played_as_written_draws_the_score_under_its_notes():
    played = played_score(read_musicxml(ODE))
    notes = written_notes(played)
    drawn = roll_of(played, notes)
    expected = as_rows(notes)
    assert drawn.shape == expected.shape
    assert np.abs(drawn[:, 0] - expected[:, 0]).max() <= 1  # onsets (ms)
    assert np.array_equal(drawn[:, 2], expected[:, 2])  # pitches
    assert np.abs(drawn[:, 1] - expected[:, 1]).max() <= 1  # lengths at the take's pace


def test_the_score_moves_with_a_stop_and_a_missed_chord_sits_where_it_was_due():
    played = played_score(read_musicxml(ODE))
    notes = written_notes(played)
    stop_at = next(a for a, _, _, position in notes if position == 8)  # a 2.5 s stop before the ninth bar
    notes = [(a + 2.5 if a >= stop_at else a, d, p, b) for a, d, p, b in notes]
    left_out = next(a for a in downbeats(notes) if unlike_its_neighbours(notes, a))  # a bar's first chord
    played_notes = [n for n in notes if n[0] != left_out]
    drawn = roll_of(played, played_notes)
    expected = as_rows(notes)  # the chord left out is still drawn, at its time
    assert drawn.shape == expected.shape
    assert np.abs(drawn[:, 0] - expected[:, 0]).max() <= 1
    due = drawn[np.abs(drawn[:, 0] - left_out * 1000) <= 1]
    assert sorted(due[:, 2]) == sorted(p for a, _, p, _ in notes if a == left_out)


def downbeats(notes) -> list[float]:
    return sorted({min(a for a, _, _, b in notes if b == position) for position in {n[3] for n in notes}})[1:-1]


def unlike_its_neighbours(notes, at: float) -> bool:
    """Do the chords before and after the one at ``at`` share none of its pitches (so that leaving it out cannot
    read as playing a neighbour early or late)?"""
    onsets = sorted({a for a, *_ in notes})
    k = onsets.index(at)
    pitches = [{p for a, _, p, _ in notes if a == onsets[i]} for i in (k - 1, k, k + 1)]
    return not (pitches[1] & pitches[0]) and not (pitches[1] & pitches[2])


def test_bars_played_again_after_a_restart_are_drawn_again():
    played = played_score(read_musicxml(ODE))
    notes = written_notes(played)
    first = [n for n in notes if n[3] <= 3]  # bars 1-4, then back to bar 3 and on to the end
    again_from = min(a for a, _, _, position in notes if position == 2)
    shift = max(a + d for a, d, _, _ in first) + 1.0 - again_from
    second = [(a + shift, d, p, b) for a, d, p, b in notes if b >= 2]
    drawn = roll_of(played, first + second)
    assert len(drawn) == len(first) + len(second)
    expected = as_rows(first + second)
    assert np.abs(drawn[:, 0] - expected[:, 0]).max() <= 1 and np.array_equal(drawn[:, 2], expected[:, 2])


def test_a_take_broken_off_mid_bar_draws_only_what_was_due_and_the_limit_holds():
    played = played_score(read_musicxml(ODE))
    notes = written_notes(played)
    chords = sorted({a for a, *_ in notes})
    end = chords[len(chords) // 2]  # the take stops half way through the piece, perhaps mid-bar
    taken = [n for n in notes if n[0] <= end]
    drawn = roll_of(played, taken)
    assert len(drawn) == len(taken) and drawn[:, 0].max() <= round(end * 1000)
    onsets = np.array([n[0] for n in taken])
    pitches = np.array([n[2] for n in taken])
    order = np.lexsort((pitches, onsets))
    assert len(score_notes_in_take(align(played, onsets[order], pitches[order]), limit=7)) == 7
