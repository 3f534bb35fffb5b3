"""Takes of a built-in piece as a learner plays it, with the mistakes known: the demo's performance and the
benchmark's (the score played as written, repeats taken, at its marked tempo; a wrong note, a stop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pianocoach.repertoire.musicxml import read_musicxml
from pianocoach.repertoire.store import BUILTIN_DIR
from pianocoach.repertoire.unfold import played_score


def write_practice_take(
    path: Path,
    piece: str = "minuet-in-g",
    seconds: float | None = None,
    bars: int | None = None,
    wrong_bar: str | None = None,
    stop_before: str | None = None,
    stop_s: float = 2.0,
) -> Path:
    """Write a MIDI take of the built-in ``piece``: its first ``bars`` bars as played (all of them when None),
    again and again until ``seconds`` when given; the top note of the second chord of ``wrong_bar`` a semitone
    up (a wrong note) and a pause of ``stop_s`` before ``stop_before`` (the first time through). The right hand
    (staff 1) a little louder than the left."""
    import pretty_midi

    score = read_musicxml(BUILTIN_DIR / f"{piece}.musicxml")
    played = played_score(score)
    keep = np.ones(len(played), dtype=bool) if bars is None else played.chord_bar < bars
    chords = np.flatnonzero(keep)
    numbers = [played.bar_number(int(played.chord_bar[c])) for c in chords]
    wrong_chord = _nth_chord_of(numbers, chords, wrong_bar, 1)
    stop_chord = _nth_chord_of(numbers, chords, stop_before, 0)
    once_s = float(score.seconds(played.chord_q[chords[-1]] + 1.0) - score.seconds(played.chord_q[chords[0]]))
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    start, first_time = 0.0, True
    while first_time or (seconds is not None and start < seconds):
        delay = 0.0
        for chord in chords:
            if first_time and chord == stop_chord:
                delay = stop_s
            at = start + delay + float(score.seconds(played.chord_q[chord]) - score.seconds(played.chord_q[chords[0]]))
            if seconds is not None and at >= seconds:
                break
            top = int(played.chord_pitches[chord].max())
            for note, pitch in zip(played.chord_notes[chord], played.chord_pitches[chord]):
                sounding = int(pitch) + (1 if first_time and chord == wrong_chord and pitch == top else 0)
                velocity = 72 if score.staff[note] == 1 else 56
                piano.notes.append(pretty_midi.Note(velocity, sounding, at, at + 0.4))
        start += once_s + delay + 1.0
        first_time = False
    midi.instruments.append(piano)
    midi.write(str(path))
    return path


def _nth_chord_of(numbers: list[str], chords: np.ndarray, bar: str | None, nth: int) -> int | None:
    """The ``nth`` chord (played order) of the first time ``bar`` is played."""
    if bar is None:
        return None
    inside = [int(c) for c, n in zip(chords, numbers) if n == bar]
    return inside[min(nth, len(inside) - 1)] if inside else None
