"""What the score says about each played note of an aligned take (:class:`pianocoach.features.ScoreContext`): its
place in the score, the notated duration, the dynamic and tempo marked there, and where the harmony changes. The
score-relative descriptors are computed from it."""

from __future__ import annotations

import numpy as np

from pianocoach.features import ScoreContext
from pianocoach.repertoire.align import Alignment
from pianocoach.repertoire.score import Score
from pianocoach.repertoire.unfold import PlayedScore

# Dynamic levels of the marks (p = -1, f = +1); accents (sf, fz, fp) are not levels and are left out.
DYNAMIC_LEVELS = {
    "pppp": -4.0,
    "ppp": -3.0,
    "pp": -2.0,
    "p": -1.0,
    "mp": -0.5,
    "mf": 0.5,
    "f": 1.0,
    "ff": 2.0,
    "fff": 3.0,
    "ffff": 4.0,
}
WEDGE_LEVELS = 1.0  # a hairpin moves the level this much by its end
HARMONY_SAME = 0.5  # a beat whose pitch classes overlap the last beat's less than this (Jaccard) changes harmony
MATCHED = ("correct", "wrong")  # played notes placed in the score (a wrong note still falls on its chord's time)


def score_context(alignment: Alignment) -> ScoreContext:
    """The context of every played note of ``alignment``, in the order they were aligned (the take's order)."""
    played = alignment.played
    score = played.score
    n = len(alignment.note_chord)
    position = np.full(n, np.nan)
    written = np.full(n, np.nan)
    dynamic = np.full(n, np.nan)
    tempo = np.full(n, np.nan)
    note_level = dynamic_levels(score)
    note_tempo = marked_tempi(score)
    changes = harmony_changes(played)
    change = np.zeros(n, dtype=bool)
    for note in range(n):
        chord = int(alignment.note_chord[note])
        if chord < 0 or alignment.note_status[note] not in MATCHED:
            continue
        position[note] = played.chord_q[chord]
        change[note] = changes[chord]
        members = played.chord_notes[chord]
        tempo[note] = note_tempo[members[0]]
        if alignment.note_status[note] == "correct":
            same = members[score.pitch[members] == int(alignment.pitches[note])]
            if len(same):
                written[note] = score.duration_q[same[0]]
                dynamic[note] = note_level[same[0]]
    return ScoreContext(position, written, dynamic, tempo, change)


def dynamic_levels(score: Score) -> np.ndarray:
    """The dynamic level marked at each written note (nan for all when the score marks no dynamics): the latest
    dynamic mark, moved along each hairpin up to its end (all staves: piano dynamics mostly sit between them)."""
    marks = sorted(
        (m.at_q, m.kind, m.text.strip().lower())
        for m in score.markings
        if m.kind in ("dynamic", "wedge") and (m.kind == "wedge" or m.text.strip().lower() in DYNAMIC_LEVELS)
    )
    if not any(kind == "dynamic" for _, kind, _ in marks):
        return np.full(len(score), np.nan)
    segments: list[list[float]] = []  # piecewise linear: [start, level there, change per quarter note after it]
    level, wedge_start, wedge_sign = 0.0, None, 0.0
    for at, kind, text in marks:
        if kind == "dynamic":
            level, wedge_start = DYNAMIC_LEVELS[text], None
            segments.append([at, level, 0.0])
        elif text in ("crescendo", "diminuendo"):
            wedge_start, wedge_sign = at, 1.0 if text == "crescendo" else -1.0
            segments.append([at, level, 0.0])  # its slope is set at the wedge's stop
        elif text == "stop" and wedge_start is not None and at > wedge_start:
            segments[-1][2] = wedge_sign * WEDGE_LEVELS / (at - wedge_start)
            level += wedge_sign * WEDGE_LEVELS
            segments.append([at, level, 0.0])
            wedge_start = None
    start, levels, slopes = (np.array(column) for column in zip(*segments))
    segment = np.searchsorted(start, score.onset_q, side="right") - 1
    before = segment < 0  # notes before the first mark take it
    segment = np.clip(segment, 0, None)
    out = levels[segment] + slopes[segment] * (score.onset_q - start[segment])
    out[before] = levels[0]
    return out


def marked_tempi(score: Score) -> np.ndarray:
    """The tempo marked at each written note in quarter notes a minute (nan for all without a tempo mark)."""
    tempi = score.tempo_marks()
    if not tempi:
        return np.full(len(score), np.nan)
    start = np.array([t[0] for t in tempi])
    segment = np.clip(np.searchsorted(start, score.onset_q, side="right") - 1, 0, None)
    return np.array([t[1] for t in tempi])[segment]


def harmony_changes(played: PlayedScore) -> np.ndarray:
    """Per chord of the played order: does it begin a new harmony? The harmony of each half bar (a whole bar in
    three or an odd number of beats) is read from the pitch classes of the lower staves sounding in it (every staff
    for a one-staff score); the first chord of a half bar whose set overlaps the last one's by less than half
    (Jaccard) begins a change. A crude reading of harmony, but one that needs no analysis the device cannot do, and
    the one the sustain pedal is measured against."""
    score = played.score
    lower = score.staff >= 2 if np.any(score.staff >= 2) else np.ones(len(score), dtype=bool)
    bar_start = played.bar_starts_q
    out = np.zeros(len(played), dtype=bool)
    previous: set[int] = set()
    current: set[int] = set()
    current_key: tuple[int, int] | None = None
    first_chord = -1
    sounding: list[tuple[float, int]] = []  # (end in quarter notes, pitch class) of the lower notes struck so far
    for chord in range(len(played)):
        position = int(played.chord_bar[chord])
        bar = score.bars[played.bar_order[position]]
        unit = bar.length_q / 2 if bar.beats % 2 == 0 and bar.beats >= 4 else bar.length_q
        at = float(played.chord_q[chord])
        key = (position, int((at - bar_start[position]) // unit + 1e-9))
        if key != current_key:
            if current_key is not None and current:
                out[first_chord] = _changes(previous, current)
                previous = current
            sounding = [(end, pc) for end, pc in sounding if end > at + 1e-6]
            current_key, current, first_chord = key, {pc for _, pc in sounding}, chord
        notes = played.chord_notes[chord][lower[played.chord_notes[chord]]]
        for note in notes.tolist():
            pc = int(score.pitch[note]) % 12
            current.add(pc)
            sounding.append((at + float(score.duration_q[note]), pc))
    if current_key is not None and current:
        out[first_chord] = _changes(previous, current)
    return out


def _changes(before: set[int], now: set[int]) -> bool:
    if not before or not now:
        return False
    return len(before & now) / len(before | now) < HARMONY_SAME
