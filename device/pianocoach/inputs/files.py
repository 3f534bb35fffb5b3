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
from pianocoach.inputs.base import BLOCK_SECONDS, Block, MidiEvent

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


MAX_PEAK = 16.0  # float samples beyond this (24 dB over full scale) are not a recording's level
# an hour of dense playing (20 notes a second) is about 0.6 MB of MIDI; pretty_midi needs about 5 s and
# 280 MB per 2 MB it parses, so that is the cap
MAX_MIDI_BYTES = 2 << 20


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the file's sample rate (stereo is mixed down); the whole file in memory,
    for short clips (tests, rendering). Scoring streams the file (:class:`AudioFileSource`)."""
    source = AudioFileSource(path, block_seconds=10.0)
    return np.concatenate([block.audio for block in source.blocks()]), source.sample_rate


class AudioFileSource:
    """An audio file read block by block (never whole: an hour at 44.1 kHz is 635 MB as float32)."""

    kind = "audio"

    def __init__(self, path: str | Path, block_seconds: float = BLOCK_SECONDS, realtime: bool = False) -> None:
        import soundfile as sf

        self.path = Path(path)
        self.name = self.path.name
        if not self.path.is_file():
            raise AudioFileError(self.path, "no such file")
        try:
            info = sf.info(str(self.path))  # libsndfile >= 1.1 reads MP3 too
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise AudioFileError(self.path, f"not a readable audio file ({_first_line(exc)})") from None
        if info.frames <= 0 or info.samplerate <= 0:
            raise AudioFileError(self.path, "no audio samples (empty file)")
        if info.channels > 1:
            log.info("%s: %d channels mixed down to mono", self.path, info.channels)
        self.sample_rate, self.frames = int(info.samplerate), int(info.frames)
        self.block_seconds = block_seconds
        self._pacer = _Pacer(realtime)
        self._stopped = False

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def blocks(self) -> Iterator[Block]:
        import soundfile as sf

        size = max(1, int(round(self.block_seconds * self.sample_rate)))
        start = 0
        try:
            with sf.SoundFile(str(self.path)) as handle:
                for index, chunk in enumerate(handle.blocks(blocksize=size, dtype="float32", always_2d=True)):
                    if self._stopped:
                        return
                    audio = self._checked(chunk.mean(axis=1, dtype=np.float32), start)
                    end = (start + len(audio)) / self.sample_rate
                    self._pacer.wait_until(end)
                    yield Block(index, start / self.sample_rate, end, audio=audio, sample_rate=self.sample_rate)
                    start += len(audio)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioFileError(
                self.path, f"unreadable at {start / self.sample_rate:.1f} s ({_first_line(exc)})"
            ) from None
        if start == 0:
            raise AudioFileError(self.path, "no audio samples (empty file)")

    def _checked(self, audio: np.ndarray, start: int) -> np.ndarray:
        """Samples fit to score: finite, and within a recording's level (a little over full scale is clipped)."""
        at = f"at {start / self.sample_rate:.1f} s"
        if not np.all(np.isfinite(audio)):
            raise AudioFileError(self.path, f"sample values that are not numbers (NaN or infinity) {at}")
        peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
        if peak > MAX_PEAK:
            raise AudioFileError(
                self.path, f"sample values up to {peak:.3g} {at}, far outside -1..1: not a recording's level"
            )
        return np.clip(audio, -1.0, 1.0) if peak > 1.0 else audio

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

    def __init__(self, path: str | Path, block_seconds: float = BLOCK_SECONDS, realtime: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name
        if self.path.is_file() and self.path.stat().st_size > MAX_MIDI_BYTES:
            raise InputFileError(
                self.path,
                f"{self.path.stat().st_size / 1e6:.1f} MB of MIDI, more than the "
                f"{MAX_MIDI_BYTES / 1e6:.1f} MB an hour of playing takes: refused",
            )
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


def input_kind(path: str | Path) -> str:
    """The kind of input a file is: "midi" for a MIDI file, else "audio" (as :func:`open_file` opens it)."""
    return "midi" if Path(path).suffix.lower() in MIDI_SUFFIXES else "audio"


def open_file(path: str | Path, block_seconds: float = BLOCK_SECONDS, realtime: bool = False):
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return MidiFileSource(path, block_seconds, realtime)
    if suffix in AUDIO_SUFFIXES:
        return AudioFileSource(path, block_seconds, realtime)
    raise InputFileError(path, f"unsupported file type {suffix or '(none)'}: use .wav, .flac, .ogg, .mp3 or .mid")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
