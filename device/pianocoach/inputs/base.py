"""What every input yields: time-stamped blocks of audio samples or MIDI events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol

import numpy as np

from pianocoach.errors import PianoCoachError
from pianocoach.features.settings import DEFAULT_SETTINGS

# The one block length: inputs deliver blocks of it, sessions score on its grid, and the audio features are
# computed per block of it (the feature settings own it, so a change is a feature-version change).
BLOCK_SECONDS: float = DEFAULT_SETTINGS.block_seconds


class InputDeviceError(PianoCoachError):
    """A microphone or MIDI port is missing or cannot be opened."""


@dataclass(frozen=True)
class MidiEvent:
    time: float  # seconds since the performance started
    kind: str  # "on", "off" or "cc"
    number: int  # pitch, or controller number
    value: int  # velocity, or controller value


@dataclass(frozen=True)
class Block:
    index: int
    start: float  # seconds since the performance started
    end: float
    audio: np.ndarray | None = None  # float32 mono samples at sample_rate (audio inputs)
    sample_rate: int = 0
    events: tuple[MidiEvent, ...] = field(default=())  # MIDI inputs
    overflows: int = 0  # input overflows counted so far (microphone)

    @property
    def kind(self) -> str:
        return "audio" if self.audio is not None else "midi"


class BlockSource(Protocol):
    kind: str  # "audio" or "midi"
    name: str  # what to call it in messages and history (a file name, "microphone", a port name)

    def blocks(self) -> Iterator[Block]:
        """Blocks in time order until the performance ends (file end, or ``stop()``)."""

    def stop(self) -> None:
        """End a live input after the block in progress."""
