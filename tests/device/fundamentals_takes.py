"""Takes of the built-in Ode to Joy where the answer is known by construction: wrong notes in a chosen bar, a stop
before another, the right hand louder than the left; scored with the default bundle and the built-in repertoire."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from midi_helpers import write_midi

from pianocoach.repertoire import read_musicxml
from pianocoach.repertoire.store import BUILTIN_DIR

ODE = BUILTIN_DIR / "ode-to-joy.musicxml"


def ode_take(
    path: Path,
    wrong_bar: str | None = "3",
    wrong: int = 2,
    stop_before: str | None = "9",
    stop_s: float = 2.5,
    right_velocity: int = 70,
    left_velocity: int = 50,
) -> Path:
    """The score played as written, but ``wrong`` notes of the right hand in ``wrong_bar`` a semitone up and a
    ``stop_s`` pause before ``stop_before``."""
    score = read_musicxml(ODE)
    onsets = score.seconds(score.onset_q)
    offsets = score.seconds(score.onset_q + score.duration_q)
    numbers = [score.bars[int(b)].number for b in score.bar]
    pitches = score.pitch.astype(int).copy()
    if wrong_bar is not None:
        in_bar = [i for i, n in enumerate(numbers) if n == wrong_bar and score.staff[i] == 1]
        for i in in_bar[:wrong]:
            pitches[i] += 1
    shift = np.zeros(len(onsets))
    if stop_before is not None:
        first = min(i for i, n in enumerate(numbers) if n == stop_before)
        shift[onsets >= onsets[first] - 1e-6] = stop_s
    velocity = np.where(score.staff == 1, right_velocity, left_velocity)
    notes = [
        (float(a + d), float(b + d) - 0.02, int(p), int(v))
        for a, b, p, v, d in zip(onsets, offsets, pitches, velocity, shift)
    ]
    return write_midi(path, notes)


def score_take(path: Path, scorer=None, language: str = "en"):
    """The take scored as ``pianocoach score`` does, following the built-in repertoire."""
    from pianocoach.inputs import open_file
    from pianocoach.repertoire.store import Repertoire, load_index
    from pianocoach.scoring import (
        BundleScorer,
        SessionSettings,
        score_source,
        write_feedback,
    )

    repertoire = load_index(Repertoire(path.parent / "repertoire"))
    result = score_source(
        open_file(path),
        scorer or BundleScorer(),
        SessionSettings(language=language),
        repertoire=repertoire,
    )
    write_feedback(result)
    return result
