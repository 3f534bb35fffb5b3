"""File replay: WAV/FLAC/OGG/MP3 or MIDI cut into blocks, as fast as possible or paced in real time,
so a file goes through exactly the code path the microphone and the MIDI port use."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from pianocoach.errors import InputFileError
from pianocoach.features import read_midi
from pianocoach.features.notes import SOFT_CC, SUSTAIN_CC
from pianocoach.inputs.base import Block, MidiEvent

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}
MIDI_SUFFIXES = {".mid", ".midi"}


class AudioFileError(InputFileError):
    """An audio file is missing, unreadable or empty."""


class _Pacer:
    """Sleeps until each block's end time has passed since the first block (real-time replay)."""

    def __init__(self, realtime: bool) -> None:
        self.realtime = realtime
        self.t0: float | None = None

    def wait_until(self, seconds: float) -> None:
        if not self.realtime:
            return
        self.t0 = self.t0 if self.t0 is not None else time.monotonic()
        delay = self.t0 + seconds - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the file's sample rate (stereo is mixed down)."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(path, "no such file")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)  # libsndfile >= 1.1 reads MP3 too
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(path, f"not a readable audio file ({exc})") from exc
    if samples.shape[0] == 0:
        raise AudioFileError(path, "no audio samples (empty file)")
    if samples.shape[1] > 1:
        log.info("%s: %d channels mixed down to mono", path, samples.shape[1])
    return samples.mean(axis=1).astype(np.float32), int(rate)


class AudioFileSource:
    kind = "audio"

    def __init__(self, path: str | Path, block_seconds: float = 2.0, realtime: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.samples, self.sample_rate = read_audio(self.path)
        self.block_seconds = block_seconds
        self._pacer = _Pacer(realtime)
        self._stopped = False

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def blocks(self) -> Iterator[Block]:
        size = max(1, int(round(self.block_seconds * self.sample_rate)))
        for index, start in enumerate(range(0, len(self.samples), size)):
            if self._stopped:
                return
            chunk = self.samples[start : start + size]
            end = (start + len(chunk)) / self.sample_rate
            self._pacer.wait_until(end)
            yield Block(index, start / self.sample_rate, end, audio=chunk, sample_rate=self.sample_rate)

    def stop(self) -> None:
        self._stopped = True


def table_events(table) -> list[MidiEvent]:
    """A note table as the event stream a keyboard would send: note on/off, sustain and soft pedal.
    At equal times a key release comes before the next press (a re-struck key)."""
    keyed = []
    for onset, offset, pitch, velocity in zip(table.onset, table.offset, table.pitch, table.velocity):
        keyed.append((onset, 1, MidiEvent(float(onset), "on", int(pitch), int(velocity))))
        keyed.append((offset, 0 if offset > onset else 2, MidiEvent(float(offset), "off", int(pitch), 0)))
    for number, events in ((SUSTAIN_CC, table.pedal_events), (SOFT_CC, table.soft_pedal_events)):
        keyed.extend((t, 1, MidiEvent(float(t), "cc", number, int(v))) for t, v in events)
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in keyed]


class MidiFileSource:
    kind = "midi"

    def __init__(self, path: str | Path, block_seconds: float = 2.0, realtime: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name
        # the same reader training used, so a replayed file gives the notes the scorer learned from
        self.events = table_events(read_midi(self.path))
        self.block_seconds = block_seconds
        self._pacer = _Pacer(realtime)
        self._stopped = False

    @property
    def duration(self) -> float:
        return max(e.time for e in self.events)

    def blocks(self) -> Iterator[Block]:
        index, i = 0, 0
        while i < len(self.events) and not self._stopped:
            start, end = index * self.block_seconds, (index + 1) * self.block_seconds
            chunk = []
            while i < len(self.events) and self.events[i].time < end:
                chunk.append(self.events[i])
                i += 1
            if i == len(self.events):
                end = max(start, self.duration)
            self._pacer.wait_until(end)
            yield Block(index, start, end, events=tuple(chunk))
            index += 1

    def stop(self) -> None:
        self._stopped = True


def open_file(path: str | Path, block_seconds: float = 2.0, realtime: bool = False):
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return MidiFileSource(path, block_seconds, realtime)
    if suffix in AUDIO_SUFFIXES:
        return AudioFileSource(path, block_seconds, realtime)
    raise InputFileError(path, f"unsupported file type {suffix or '(none)'}: use .wav, .flac, .ogg, .mp3 or .mid")
