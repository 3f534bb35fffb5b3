"""A sample performance the project writes itself (the demo, the benchmark, the soak): a melody over
broken chords at about 96 BPM with phrased dynamics and a pedal per bar, a little human timing."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_sample_piece(path: Path, seconds: float = 60.0, seed: int = 0) -> Path:
    """A piano piece of about ``seconds``: a melody over broken chords at about 96 BPM, phrased dynamics, pedal
    per bar."""
    import pretty_midi

    rng = np.random.default_rng(seed)
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    beat = 60.0 / 96
    chords = [(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50)]
    scale = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76]
    t, bar, degree = 0.0, 0, 4
    while t < seconds - 2 * beat:
        chord = chords[bar % 4]
        phrase = 0.5 - 0.5 * np.cos(2 * np.pi * (bar % 4) / 4)  # swell over four bars
        piano.control_changes.append(pretty_midi.ControlChange(64, 100, t + 0.05))
        for step in range(4):
            onset = t + step * beat + rng.normal(0, 0.01)
            velocity = int(np.clip(50 + 30 * phrase + rng.normal(0, 5), 20, 120))
            piano.notes.append(pretty_midi.Note(velocity - 12, chord[step % 3], max(0.0, onset), onset + 0.9 * beat))
            degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(scale) - 1))
            piano.notes.append(pretty_midi.Note(velocity, scale[degree], max(0.0, onset), onset + 0.8 * beat))
            if step % 2:
                half = onset + beat / 2
                piano.notes.append(
                    pretty_midi.Note(velocity - 5, scale[min(degree + 1, len(scale) - 1)], half, half + 0.4 * beat)
                )
        piano.control_changes.append(pretty_midi.ControlChange(64, 0, t + 4 * beat - 0.05))
        t += 4 * beat
        bar += 1
    midi.instruments.append(piano)
    midi.write(str(path))
    return path
