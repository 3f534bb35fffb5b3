"""The note table: every piano note of a performance with its timing, velocity and sustain pedal.

Built from a MIDI file (:func:`read_midi`) or from notes captured live (:meth:`NoteTable.from_notes`);
both go through the same clean-up, so a file and a live capture of the same playing give one table.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from pianocoach.errors import InvalidNotesError, MidiFileError, NoNotesError

log = logging.getLogger(__name__)

PIANO_PROGRAMS = range(0, 8)  # General MIDI 1-8: the piano family
SUSTAIN_CC = 64
SOFT_CC = 67  # una corda


class Note(NamedTuple):
    onset: float  # seconds
    offset: float  # seconds (key release)
    pitch: int  # MIDI note number
    velocity: int  # 1..127


@dataclass(frozen=True, eq=False)
class NoteTable:
    """Notes sorted by onset then pitch, one row per key press.

    ``pedal`` is the sustain (CC64) value at each note's onset; ``pedal_events`` holds every CC64
    change as rows of (time in seconds, value 0..127), sorted by time; ``soft_pedal_events`` the same
    for the soft pedal (CC67).
    """

    onset: np.ndarray  # float64 seconds
    offset: np.ndarray  # float64 seconds
    pitch: np.ndarray  # int16
    velocity: np.ndarray  # int16
    pedal: np.ndarray  # int16, CC64 value at onset
    pedal_events: np.ndarray  # float64 (k, 2)
    soft_pedal_events: np.ndarray  # float64 (k, 2)
    source: str = "<notes>"

    def __len__(self) -> int:
        return len(self.onset)

    @property
    def duration(self) -> np.ndarray:
        return self.offset - self.onset

    @property
    def start(self) -> float:
        return float(self.onset[0])

    @property
    def end(self) -> float:
        return float(self.offset.max())

    @classmethod
    def from_arrays(
        cls,
        onset: Sequence[float] | np.ndarray,
        offset: Sequence[float] | np.ndarray,
        pitch: Sequence[int] | np.ndarray,
        velocity: Sequence[int] | np.ndarray,
        pedal_events: Sequence[tuple[float, int]] | np.ndarray = (),
        soft_pedal_events: Sequence[tuple[float, int]] | np.ndarray = (),
        source: str = "<notes>",
    ) -> "NoteTable":
        """Validate, clean up (sort, merge duplicates, cut same-pitch overlaps) and build a table."""
        onset_a = np.asarray(onset, dtype=np.float64).reshape(-1)
        offset_a = np.asarray(offset, dtype=np.float64).reshape(-1)
        pitch_a = np.asarray(pitch, dtype=np.int64).reshape(-1)
        velocity_a = np.asarray(velocity, dtype=np.int64).reshape(-1)
        _validate(source, onset_a, offset_a, pitch_a, velocity_a)
        onset_a, offset_a, pitch_a, velocity_a = _resolve_same_pitch_overlaps(onset_a, offset_a, pitch_a, velocity_a)
        order = np.lexsort((pitch_a, onset_a))
        events = _pedal_event_array(pedal_events)
        onset_a = onset_a[order]
        return cls(
            onset=onset_a,
            offset=offset_a[order],
            pitch=pitch_a[order].astype(np.int16),
            velocity=velocity_a[order].astype(np.int16),
            pedal=pedal_values_at(events, onset_a).astype(np.int16),
            pedal_events=events,
            soft_pedal_events=_pedal_event_array(soft_pedal_events),
            source=source,
        )

    @classmethod
    def from_notes(
        cls,
        notes: Iterable[Note | tuple[float, float, int, int]],
        pedal_events: Sequence[tuple[float, int]] | np.ndarray = (),
        soft_pedal_events: Sequence[tuple[float, int]] | np.ndarray = (),
        source: str = "<notes>",
    ) -> "NoteTable":
        rows = [tuple(n) for n in notes]
        if any(len(r) != 4 for r in rows):
            raise InvalidNotesError(f"{source}: every note needs (onset, offset, pitch, velocity)")
        onset, offset, pitch, velocity = list(zip(*rows)) if rows else [(), (), (), ()]
        return cls.from_arrays(
            onset,
            offset,
            pitch,
            velocity,
            pedal_events=pedal_events,
            soft_pedal_events=soft_pedal_events,
            source=source,
        )

    def with_columns(self, **changes) -> "NoteTable":
        """A new table with some columns replaced, cleaned up again (used by augmentation)."""
        base: dict[str, Any] = {
            "onset": self.onset,
            "offset": self.offset,
            "pitch": self.pitch,
            "velocity": self.velocity,
            "pedal_events": self.pedal_events,
            "soft_pedal_events": self.soft_pedal_events,
            "source": self.source,
        }
        base.update(changes)
        return NoteTable.from_arrays(**base)


def pedal_values_at(events: np.ndarray, times: np.ndarray) -> np.ndarray:
    times = np.asarray(times, dtype=np.float64)
    if len(events) == 0:
        return np.zeros(times.shape, dtype=np.float64)
    idx = np.searchsorted(events[:, 0], times, side="right") - 1
    values = events[np.clip(idx, 0, None), 1]
    return np.where(idx >= 0, values, 0.0)


def group_chords(onset: np.ndarray, window_s: float) -> np.ndarray:
    """Chord index per note (onsets sorted): a chord is every note within ``window_s`` of its first onset."""
    chord = np.zeros(len(onset), dtype=np.int64)
    current, chord_start = 0, onset[0] if len(onset) else 0.0
    for i in range(1, len(onset)):
        if onset[i] - chord_start > window_s:
            current += 1
            chord_start = onset[i]
        chord[i] = current
    return chord


def read_midi(path: str | Path) -> NoteTable:
    """Read the piano notes and sustain pedal of a MIDI file. Drum tracks are ignored.

    Raises :class:`MidiFileError` (missing, empty, corrupt) or :class:`NoNotesError` (no piano notes).
    """
    from pianocoach.console import library_prints_logged

    with library_prints_logged():
        import pretty_midi  # heavy import, only needed for files

    path = Path(path)
    if not path.is_file():
        raise MidiFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise MidiFileError(path, "file is empty")
    try:
        with warnings.catch_warnings():
            # pretty_midi warns about tempo events on non-zero tracks (common in PercePiano); harmless.
            warnings.simplefilter("ignore")
            midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # mido/pretty_midi raise many unrelated types for corrupt files
        raise MidiFileError(path, f"not a readable MIDI file ({type(exc).__name__}: {exc})") from exc

    instruments = [inst for inst in midi.instruments if not inst.is_drum]
    if not instruments:
        if midi.instruments:
            raise NoNotesError(path, "only drum tracks, no piano notes")
        raise NoNotesError(path, "no notes")
    pianos = [inst for inst in instruments if inst.program in PIANO_PROGRAMS]
    if not pianos:
        log.warning("%s: no piano-family track; using all %d non-drum tracks", path, len(instruments))
        pianos = instruments
    notes = [n for inst in pianos for n in inst.notes]
    if not notes:
        raise NoNotesError(path, "no notes")
    controls = [cc for inst in pianos for cc in inst.control_changes]
    pedal = sorted((cc.time, cc.value) for cc in controls if cc.number == SUSTAIN_CC)
    soft_pedal = sorted((cc.time, cc.value) for cc in controls if cc.number == SOFT_CC)
    onset = np.array([n.start for n in notes])
    offset = np.maximum(np.array([n.end for n in notes]), onset)
    return NoteTable.from_arrays(
        onset,
        offset,
        [n.pitch for n in notes],
        [n.velocity for n in notes],
        pedal_events=pedal,
        soft_pedal_events=soft_pedal,
        source=str(path),
    )


def _validate(source: str, onset, offset, pitch, velocity) -> None:
    if not (len(onset) == len(offset) == len(pitch) == len(velocity)):
        raise InvalidNotesError(f"{source}: onset, offset, pitch and velocity differ in length")
    if len(onset) == 0:
        raise InvalidNotesError(f"{source}: no notes")
    problems = []
    if not (np.isfinite(onset).all() and np.isfinite(offset).all()):
        problems.append("times must be finite numbers")
    elif (onset < 0).any():
        problems.append("onsets must be >= 0")
    elif (offset < onset).any():
        problems.append(f"{int((offset < onset).sum())} note(s) end before they start")
    if ((pitch < 0) | (pitch > 127)).any():
        problems.append("pitch must be 0..127")
    if ((velocity < 1) | (velocity > 127)).any():
        problems.append("velocity must be 1..127")
    if problems:
        raise InvalidNotesError(f"{source}: " + "; ".join(problems))


def _resolve_same_pitch_overlaps(onset, offset, pitch, velocity):
    """A key cannot sound twice: a re-struck pitch ends the previous note of that pitch.

    Notes of one pitch that start together are merged (longest release, loudest velocity).
    """
    order = np.lexsort((onset, pitch))
    onset, offset, pitch, velocity = onset[order], offset[order].copy(), pitch[order], velocity[order].copy()
    keep = np.ones(len(onset), dtype=bool)
    last = 0
    for i in range(1, len(onset)):
        if pitch[i] != pitch[last]:
            last = i
            continue
        if onset[i] == onset[last]:
            offset[last] = max(offset[last], offset[i])
            velocity[last] = max(velocity[last], velocity[i])
            keep[i] = False
            continue
        if offset[last] > onset[i]:
            offset[last] = onset[i]
        last = i
    if not keep.all():
        log.debug("merged %d duplicate note(s)", int((~keep).sum()))
    return onset[keep], offset[keep], pitch[keep], velocity[keep]


def _pedal_event_array(events) -> np.ndarray:
    arr = np.asarray(events, dtype=np.float64).reshape(-1, 2) if len(events) else np.zeros((0, 2))
    if len(arr):
        arr = arr[np.argsort(arr[:, 0], kind="stable")]
        arr[:, 1] = np.clip(arr[:, 1], 0, 127)
    return arr
