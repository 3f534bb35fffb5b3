"""A mistake simulator: a clean performance with learner's mistakes put in, and the truth of each one.

The clean take is first aligned with its score (its own alignment says which played note is which written note,
and where each chord and bar was played). Then one kind of mistake is made at a controlled rate:

- ``wrong``: a correct note moved a semitone or a tone to a pitch the chord does not hold;
- ``missed``: a correct note left out (not one whose key is struck again at once: the key still sounds);
- ``extra``: a note put between two chords, a few semitones from their notes;
- ``hesitation``: the playing stops for 1-3 s before a chord;
- ``restart``: the player stops and starts again from the beginning of the bar (or the bar before);
- ``skipped_bar``: a bar left out (the rest moves up);
- ``dragging``: the tempo falls steadily, to 2/3 of where it began.

Each mistake's truth is kept with where it happened in the take's new time, and ``time_map`` takes a time of the
clean take to the mutated one (so what the clean take's own alignment reported can be compared).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from pianocoach.repertoire.align import NEXT, RESTRIKE_GAP_S, Alignment

KINDS = ("wrong", "missed", "extra", "hesitation", "restart", "skipped_bar", "dragging")
CHORD_TWIN_S = 1.0  # a key struck twice in one chord's visit this close: never left out as missed (_struck_again)
NOTE_RATE = 0.03  # wrong, missed and extra notes: this share of the take's correct notes (at least one)
HESITATION_S = (1.0, 3.0)
RESTART_GAP_S = (0.3, 1.0)
DRAG_TO = 2.0 / 3.0  # the tempo at the end of a dragging take, against its start


@dataclass(frozen=True)
class Truth:
    kind: str
    time_s: float  # in the mutated take: the note (wrong, extra), the chord due (missed), the last chord before
    #                the gap (hesitation), the first replayed note (restart), the chord after the gap (skipped bar)
    pitch: int | None = None  # the played pitch (wrong, extra), the written one (missed)
    bar_position: int | None = None  # the bar in the played order of the score


@dataclass
class Take:
    onset: np.ndarray
    offset: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    truths: list[Truth] = field(default_factory=list)
    time_map: Callable[[np.ndarray], np.ndarray] = lambda t: np.asarray(t)

    @classmethod
    def of(cls, onset, offset, pitch, velocity) -> Take:
        order = np.lexsort((pitch, onset))
        return cls(*(np.asarray(a)[order].copy() for a in (onset, offset, pitch, velocity)))

    def sorted(self) -> Take:
        order = np.lexsort((self.pitch, self.onset))
        return Take(
            self.onset[order], self.offset[order], self.pitch[order], self.velocity[order], self.truths, self.time_map
        )


def simulate(take: Take, clean: Alignment, kind: str, rng: np.random.Generator, rate: float = NOTE_RATE) -> Take:
    """``take`` with mistakes of one ``kind``; ``clean``: the take's own alignment with its score."""
    return {
        "wrong": _wrong,
        "missed": _missed,
        "extra": _extra,
        "hesitation": _hesitation,
        "restart": _restart,
        "skipped_bar": _skipped_bar,
        "dragging": _dragging,
    }[kind](take, clean, rng, rate)


def _how_many(clean: Alignment, rate: float) -> int:
    return max(1, int(round(rate * clean.correct)))


def _chord_visit_of_note(clean: Alignment) -> dict[int, tuple[int, float, int]]:
    """The first onset and bar position of each chord visit, by chord (its first visit)."""
    out: dict[int, tuple[int, float, int]] = {}
    for chord, t, _, entry in clean.chord_onsets:
        out.setdefault(chord, (chord, t, clean.bars[entry].position))
    return out


def _correct_notes(
    clean: Alignment,
    rng: np.random.Generator,
    count: int,
    one_per_chord: bool = True,
    excluded: np.ndarray | None = None,
) -> list[int]:
    """Correct notes, not in the first or the last chord played (a take may begin or end anywhere: a missing
    first or last chord is a take that began later or ended sooner), nor ``excluded``."""
    ends = {int(clean.note_chord[0]), int(clean.note_chord[-1])} if len(clean.note_chord) else set()
    correct = [
        n
        for n, s in enumerate(clean.note_status)
        if s == "correct" and int(clean.note_chord[n]) not in ends and (excluded is None or not excluded[n])
    ]
    rng.shuffle(correct)
    chosen, chords = [], set()
    for note in correct:
        chord = int(clean.note_chord[note])
        if one_per_chord and chord in chords:
            continue
        chosen.append(note)
        chords.add(chord)
        if len(chosen) == count:
            break
    return chosen


def _bar_position(clean: Alignment, note: int) -> int:
    return int(clean.played.chord_bar[clean.note_chord[note]])


def _wrong(take: Take, clean: Alignment, rng, rate) -> Take:
    out = Take(take.onset.copy(), take.offset.copy(), take.pitch.copy(), take.velocity.copy())
    played = clean.played
    for note in _correct_notes(clean, rng, _how_many(clean, rate)):
        chord = int(clean.note_chord[note])
        taken = set(played.chord_pitches[chord].tolist()) | set(played.chord_ornaments[chord].tolist())
        here = set(take.pitch[np.abs(take.onset - take.onset[note]) < 0.1].tolist())
        options = [int(take.pitch[note]) + d for d in (-2, -1, 1, 2) if int(take.pitch[note]) + d not in taken | here]
        if not options:
            continue
        out.pitch[note] = rng.choice(options)
        out.truths.append(Truth("wrong", float(take.onset[note]), int(out.pitch[note]), _bar_position(clean, note)))
    return out.sorted()


def _struck_again(take: Take, clean: Alignment) -> np.ndarray:
    """Notes whose key is struck again within ``RESTRIKE_GAP_S`` (a key's bounce in the recording), or again in
    the same chord within ``CHORD_TWIN_S`` (a key brushed, then struck, as the chord was played): leaving one out
    leaves the key struck when it was due, which is no missed note."""
    again = np.zeros(len(take.onset), dtype=bool)
    for pitch in np.unique(take.pitch):
        where = np.flatnonzero(take.pitch == pitch)
        gaps = np.diff(take.onset[where])
        same_chord = clean.note_chord[where[1:]] == clean.note_chord[where[:-1]]
        close = (gaps < RESTRIKE_GAP_S) | (same_chord & (gaps < CHORD_TWIN_S))
        again[where[1:][close]] = again[where[:-1][close]] = True
    return again


def _missed(take: Take, clean: Alignment, rng, rate) -> Take:
    chosen = _correct_notes(clean, rng, _how_many(clean, rate), excluded=_struck_again(take, clean))
    visits = _chord_visit_of_note(clean)
    keep = np.ones(len(take.onset), dtype=bool)
    keep[chosen] = False
    out = Take(take.onset[keep], take.offset[keep], take.pitch[keep], take.velocity[keep])
    for note in chosen:
        chord = int(clean.note_chord[note])
        due = visits[chord][1] if chord in visits else float(take.onset[note])
        out.truths.append(Truth("missed", due, int(take.pitch[note]), _bar_position(clean, note)))
    return out


def _extra(take: Take, clean: Alignment, rng, rate) -> Take:
    played = clean.played
    visits = [v for v in clean.chord_onsets]
    count = _how_many(clean, rate)
    spots = rng.choice(len(visits) - 1, size=min(count, len(visits) - 1), replace=False)
    onsets, offsets, pitches, velocities = [take.onset], [take.offset], [take.pitch], [take.velocity]
    truths = []
    for spot in sorted(spots):
        (chord_a, t_a, _, entry), (chord_b, t_b, _, _) = visits[spot], visits[spot + 1]
        if t_b - t_a < 0.08:
            continue
        t = t_a + rng.uniform(0.35, 0.65) * (t_b - t_a)
        near = np.concatenate([played.chord_pitches[chord_a], played.chord_pitches[chord_b]])
        taken = set(near.tolist()) | set(played.chord_ornaments[chord_a].tolist())
        taken |= set(played.chord_ornaments[chord_b].tolist())
        base = int(rng.choice(played.chord_pitches[chord_a]))
        options = [base + d for d in (-4, -3, -2, -1, 1, 2, 3, 4) if base + d not in taken and 21 <= base + d <= 108]
        pitch = int(rng.choice(options))
        onsets.append(np.array([t]))
        offsets.append(np.array([t + min(0.3, 0.8 * (t_b - t))]))
        pitches.append(np.array([pitch]))
        velocities.append(np.array([int(np.median(take.velocity))]))
        truths.append(Truth("extra", float(t), pitch, clean.bars[entry].position))
    out = Take.of(*(np.concatenate(a) for a in (onsets, offsets, pitches, velocities)))
    out.truths = truths
    return out


def _in_sequence_visits(clean: Alignment, margin: int = 2) -> list[int]:
    """Chord visits reached by a step to the next chord, away from the take's ends."""
    visits = clean.chord_onsets
    return [i for i in range(margin, len(visits) - margin) if visits[i][2] == NEXT and visits[i - 1][2] == NEXT]


def _shift_from(take: Take, at: float, by: float) -> Take:
    later = take.onset >= at - 1e-9
    onset, offset = take.onset.copy(), take.offset.copy()
    onset[later] += by
    offset[later] += by
    return Take(onset, offset, take.pitch.copy(), take.velocity.copy())


def _hesitation(take: Take, clean: Alignment, rng, rate) -> Take:
    candidates = _in_sequence_visits(clean)
    if not candidates:
        return Take(take.onset, take.offset, take.pitch, take.velocity)
    count = 1 if len(candidates) < 20 else 2
    chosen = sorted(rng.choice(candidates, size=count, replace=False))
    out, truths, shifts = take, [], []
    for visit in chosen:
        _, t, _, entry = clean.chord_onsets[visit]
        before = clean.chord_onsets[visit - 1][1]
        pause = float(rng.uniform(*HESITATION_S))
        moved = sum(s for at, s in shifts if at <= t)
        out = _shift_from(out, t + moved - 0.005, pause)
        truths.append(Truth("hesitation", float(before + moved), None, clean.bars[entry].position))
        shifts.append((t, pause))
    out.truths = truths
    out.time_map = _step_map(shifts)
    return out


def _step_map(shifts: list[tuple[float, float]]) -> Callable[[np.ndarray], np.ndarray]:
    def apply(t):
        t = np.asarray(t, dtype=np.float64)
        return t + sum(by * (t >= at - 0.005) for at, by in shifts)

    return apply


def _restart(take: Take, clean: Alignment, rng, rate) -> Take:
    """Stop at a chord in the middle of the take and start again from the first chord of its bar (or the bar
    before); the replay is the take's own playing of those bars."""
    visits = clean.chord_onsets
    candidates = [i for i in _in_sequence_visits(clean, 4) if visits[i][3] >= 1]
    if not candidates:
        return Take(take.onset, take.offset, take.pitch, take.velocity)
    visit = int(rng.choice(candidates))
    _, t_stop, _, entry = visits[visit]
    back_to = entry - int(rng.integers(0, 2)) if entry >= 2 else entry
    first = next(i for i, v in enumerate(visits) if v[3] == back_to)
    if first >= visit:
        first = visit - 3
    t_from = visits[first][1]
    gap = float(rng.uniform(*RESTART_GAP_S))
    replay = (take.onset >= t_from - 0.005) & (take.onset < t_stop - 0.005)
    span = t_stop - t_from
    shift = span + gap
    rest = _shift_from(take, t_stop - 0.005, shift)
    copy_onset = take.onset[replay] - t_from + t_stop + gap
    copy_offset = np.minimum(take.offset[replay] - t_from + t_stop + gap, t_stop + gap + span)
    out = Take.of(
        np.concatenate([rest.onset, copy_onset]),
        np.concatenate([rest.offset, copy_offset]),
        np.concatenate([rest.pitch, take.pitch[replay]]),
        np.concatenate([rest.velocity, take.velocity[replay]]),
    )
    out.truths = [Truth("restart", float(t_stop + gap), None, clean.bars[visits[first][3]].position)]
    out.time_map = _step_map([(t_stop, shift)])
    return out


def _skipped_bar(take: Take, clean: Alignment, rng, rate) -> Take:
    """Leave out one bar played in sequence (not the first or the last); the rest moves up by its length."""
    bars = clean.bars
    entries = [
        e
        for e in range(1, len(bars) - 1)
        if bars[e].position == bars[e - 1].position + 1 and bars[e + 1].position == bars[e].position + 1
    ]
    if not entries:
        return Take(take.onset, take.offset, take.pitch, take.velocity)
    entry = int(rng.choice(entries))
    start, next_start = bars[entry].start_s, bars[entry + 1].start_s
    keep = (take.onset < start - 0.005) | (take.onset >= next_start - 0.005)
    onset, offset = take.onset[keep].copy(), take.offset[keep].copy()
    later = onset >= next_start - 0.005
    onset[later] -= next_start - start
    offset[later] -= next_start - start
    offset[~later] = np.minimum(offset[~later], start + 0.05)
    out = Take(onset, offset, take.pitch[keep].copy(), take.velocity[keep].copy())
    out.truths = [Truth("skipped_bar", float(start), None, bars[entry].position)]
    out.time_map = lambda t: np.where(np.asarray(t) >= next_start - 0.005, np.asarray(t) - (next_start - start), t)
    return out


def _dragging(take: Take, clean: Alignment, rng, rate) -> Take:
    """Time stretched more and more: dt'/dt grows linearly from 1 to 1/DRAG_TO over the take."""
    t0, t1 = float(take.onset.min()), float(take.offset.max())
    growth = 1.0 / DRAG_TO - 1.0

    def warp(t):
        x = np.clip(np.asarray(t, dtype=np.float64) - t0, 0.0, None)
        return t0 + x + growth * x * x / (2.0 * (t1 - t0))

    out = Take(warp(take.onset), warp(take.offset), take.pitch.copy(), take.velocity.copy())
    out.truths = [Truth("dragging", t0)]
    out.time_map = warp
    return out
