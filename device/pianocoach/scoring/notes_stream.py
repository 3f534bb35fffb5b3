"""Notes as they arrive: a MIDI event tracker, and audio through resampling and streaming transcription.

Both give a provisional note table while playing (``snapshot``) and the final one at the end
(``final``). A performance fed in blocks ends with exactly the table it gives when fed whole.
"""

from __future__ import annotations

import logging

import numpy as np

from pianocoach.features import NoteTable
from pianocoach.features.notes import SOFT_CC, SUSTAIN_CC
from pianocoach.inputs.base import Block, MidiEvent
from pianocoach.transcription import FFT_HOP, SAMPLE_RATE, StreamingTranscriber, notes_to_table

log = logging.getLogger(__name__)

CLIP_LEVEL = 0.999  # samples at or above this magnitude count as clipped
SILENCE_DB = -60.0  # frames quieter than this (dBFS) are silence
LOUDNESS_FRAME_S = 0.05  # loudness is measured in 50 ms frames
SETTLE_S = 1.0  # transcribed notes this close to the last transcribed frame may still change


class MidiNoteTracker:
    def __init__(self, source: str = "MIDI") -> None:
        self.source = source
        self._open: dict[int, tuple[float, int]] = {}  # pitch -> (onset, velocity)
        self._notes: list[tuple[float, float, int, int]] = []
        self._pedal: list[tuple[float, int]] = []
        self._soft: list[tuple[float, int]] = []
        self.end = 0.0

    def feed(self, events: tuple[MidiEvent, ...] | list[MidiEvent]) -> None:
        for event in events:
            self.end = max(self.end, event.time)
            if event.kind == "on":
                if event.number in self._open:  # re-struck while held: the earlier note ends here
                    self._close(event.number, event.time)
                self._open[event.number] = (event.time, event.value)
            elif event.kind == "off":
                if event.number in self._open:
                    self._close(event.number, event.time)
            elif event.number == SUSTAIN_CC:
                self._pedal.append((event.time, event.value))
            elif event.number == SOFT_CC:
                self._soft.append((event.time, event.value))

    def _close(self, pitch: int, time: float) -> None:
        onset, velocity = self._open.pop(pitch)
        self._notes.append((onset, max(time, onset), pitch, velocity))

    def covered_until(self, now: float) -> float:
        """Every note that began before this time is known (MIDI arrives without delay)."""
        return now

    def snapshot(self, now: float) -> NoteTable | None:
        """The notes so far; keys still held end at ``now``."""
        held = [(onset, max(now, onset), pitch, velocity) for pitch, (onset, velocity) in self._open.items()]
        return self._table(self._notes + held)

    def final(self) -> NoteTable | None:
        return self.snapshot(self.end)

    def _table(self, notes) -> NoteTable | None:
        if not notes:
            return None
        return NoteTable.from_notes(notes, pedal_events=self._pedal, soft_pedal_events=self._soft, source=self.source)


class AudioLevels:
    """Loudness in fixed 50 ms frames counted from the first sample (so blocking cannot move them)
    and clipped samples."""

    def __init__(self) -> None:
        self.frame_db: list[float] = []
        self.clipped = 0
        self.samples = 0
        self._rest = np.zeros(0, dtype=np.float32)
        self._frame = 0

    def feed(self, audio: np.ndarray, sample_rate: int) -> None:
        self._frame = max(1, int(round(LOUDNESS_FRAME_S * sample_rate)))
        self.samples += len(audio)
        self.clipped += int((np.abs(audio) >= CLIP_LEVEL).sum())
        data = np.concatenate([self._rest, audio])
        whole = len(data) // self._frame * self._frame
        frames = data[:whole].reshape(-1, self._frame).astype(np.float64)
        self.frame_db.extend(20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-10))
        self._rest = data[whole:]

    def db_between(self, start_s: float, end_s: float) -> np.ndarray:
        a, b = int(start_s / LOUDNESS_FRAME_S), int(np.ceil(end_s / LOUDNESS_FRAME_S))
        return np.asarray(self.frame_db[a:b])


class AudioNoteStream:
    """Resample to 22,050 Hz (soxr, streaming), transcribe, and keep the loudness frames."""

    def __init__(self, source: str = "audio", transcriber: StreamingTranscriber | None = None) -> None:
        self.source = source
        self.transcriber = transcriber or StreamingTranscriber()
        self.levels = AudioLevels()
        self.sample_rate = 0
        self._resampler = None

    def feed(self, block: Block) -> None:
        import soxr

        if self._resampler is None:
            self.sample_rate = block.sample_rate
            self._resampler = soxr.ResampleStream(block.sample_rate, SAMPLE_RATE, 1, dtype="float32")
        elif block.sample_rate != self.sample_rate:
            raise ValueError(f"{self.source}: sample rate changed from {self.sample_rate} to {block.sample_rate} Hz")
        self.levels.feed(block.audio, block.sample_rate)
        self.transcriber.feed(self._resampler.resample_chunk(block.audio, last=False))

    @property
    def end(self) -> float:
        return self.levels.samples / self.sample_rate if self.sample_rate else 0.0

    def covered_until(self, now: float) -> float:
        """Transcription lags the audio by up to one model window; notes are settled up to a second
        before the last transcribed frame."""
        return self.transcriber.frames_done * FFT_HOP / SAMPLE_RATE - SETTLE_S

    def snapshot(self, now: float) -> NoteTable | None:
        return notes_to_table(self.transcriber.notes(final=False), self.source)

    def final(self) -> NoteTable | None:
        if self._resampler is not None:
            self.transcriber.feed(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        return notes_to_table(self.transcriber.notes(final=True), self.source)
