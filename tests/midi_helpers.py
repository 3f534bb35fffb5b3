"""Small MIDI performances built with pretty_midi, where the answer is known by construction."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import pretty_midi

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def write_midi(
    path: Path,
    notes: Iterable[tuple[float, float, int, int]],
    pedal: Sequence[tuple[float, int]] = (),
    program: int = 0,
    drums: Iterable[tuple[float, float, int, int]] = (),
) -> Path:
    """Write (onset, offset, pitch, velocity) notes, CC64 (time, value) events and optional drums."""
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=program)
    piano.notes = [pretty_midi.Note(velocity=v, pitch=p, start=a, end=b) for a, b, p, v in notes]
    piano.control_changes = [pretty_midi.ControlChange(64, value, time) for time, value in pedal]
    if piano.notes or piano.control_changes:
        midi.instruments.append(piano)
    drum_notes = [pretty_midi.Note(velocity=v, pitch=p, start=a, end=b) for a, b, p, v in drums]
    if drum_notes:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        kit.notes = drum_notes
        midi.instruments.append(kit)
    midi.write(str(path))
    return path


def steady_scale(bpm: float = 120.0, count: int = 32, legato: float = 0.8, velocity: int = 36, start: float = 0.5):
    """A C-major scale up and down, one note per beat, at a steady tempo."""
    beat = 60.0 / bpm
    pitches = (C_MAJOR + C_MAJOR[-2:0:-1]) * (count // 14 + 1)
    return [
        (start + i * beat, start + i * beat + legato * beat, pitches[i], velocity + (i % 4) * 8) for i in range(count)
    ]
