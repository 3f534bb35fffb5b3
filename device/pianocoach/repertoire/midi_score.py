"""Reading a MIDI file as a score: its notes in quarter notes (MIDI ticks over the file's resolution), the bars
from its time signatures, its tempo changes as tempo markings. A MIDI file has no staves: with two or more
tracks the first is staff 1 and the next staff 2 (and so on); a single track is split at middle C (the right
hand from C4 up), the usual guess for a piano score."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from pianocoach.repertoire.musicxml import MAX_NOTES, ScoreFileError
from pianocoach.repertoire.score import Bar, Marking, Score, sorted_score

MAX_MIDI_BYTES = 5_000_000  # a long piano score is a few hundred KB
MIDDLE_C = 60


def read_midi_score(path: str | Path) -> Score:
    path = Path(path)
    midi = _load(path)
    tracks = [inst for inst in midi.instruments if not inst.is_drum and inst.notes]
    if not tracks:
        raise ScoreFileError(path, "the score holds no notes")
    if sum(len(t.notes) for t in tracks) > MAX_NOTES:
        raise ScoreFileError(path, f"more than {MAX_NOTES} notes: not a score the device can follow")

    def quarters(seconds: float) -> float:
        return midi.time_to_tick(seconds) / midi.resolution

    onsets, durations, pitches, staves = [], [], [], []
    for number, track in enumerate(tracks, start=1):
        for note in track.notes:
            start = quarters(note.start)
            onsets.append(start)
            durations.append(max(0.0, quarters(note.end) - start))
            pitches.append(note.pitch)
            staves.append(number if len(tracks) > 1 else (1 if note.pitch >= MIDDLE_C else 2))
    bars = _bars(midi, quarters, max(o + d for o, d in zip(onsets, durations)))
    starts = np.array([b.start_q for b in bars])
    onset_q = np.asarray(onsets, dtype=np.float64)
    times, tempi = midi.get_tempo_changes()
    markings = [Marking(quarters(float(t)), "tempo", round(float(bpm), 3)) for t, bpm in zip(times, tempi)]
    score = Score(
        title=path.stem,
        composer="",
        onset_q=onset_q,
        duration_q=np.asarray(durations, dtype=np.float64),
        pitch=np.asarray(pitches, dtype=np.int16),
        staff=np.asarray(staves, dtype=np.int8),
        bar=np.clip(np.searchsorted(starts, onset_q + 1e-9, side="right") - 1, 0, len(bars) - 1).astype(np.int32),
        bars=bars,
        markings=markings,
    )
    return sorted_score(score)


def _load(path: Path):
    from pianocoach.console import library_prints_logged

    with library_prints_logged():
        import pretty_midi  # heavy import, only needed for files

    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ScoreFileError(path, "no such file") from None
    if size == 0:
        raise ScoreFileError(path, "file is empty")
    if size > MAX_MIDI_BYTES:
        raise ScoreFileError(path, f"{size / 1e6:.0f} MB: larger than a score ({MAX_MIDI_BYTES / 1e6:.0f} MB at most)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tempo events on non-zero tracks are common and harmless here
            return pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # mido/pretty_midi raise many unrelated types for corrupt files
        raise ScoreFileError(path, f"not a readable MIDI file ({type(exc).__name__})") from None


def _bars(midi, quarters, end_q: float) -> list[Bar]:
    """Bars from the downbeats pretty_midi derives from the time signatures (4/4 when there are none)."""
    signatures = sorted((quarters(ts.time), ts.numerator, ts.denominator) for ts in midi.time_signature_changes)
    signatures = signatures or [(0.0, 4, 4)]
    bars: list[Bar] = []
    position, index = 0.0, 0
    while position < end_q - 1e-9:
        while index + 1 < len(signatures) and signatures[index + 1][0] <= position + 1e-9:
            index += 1
        _, beats, beat_type = signatures[index]
        length = beats * 4.0 / beat_type
        bars.append(Bar(str(len(bars) + 1), position, length, beats, beat_type))
        position += length
    return bars or [Bar("1", 0.0, 4.0, 4, 4)]
