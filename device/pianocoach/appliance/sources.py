"""The input the daemon listens to, from the configuration: the microphone, a digital piano's MIDI port,
or a recording replayed as if it were being played live (the demo, tests, a soak)."""

from __future__ import annotations

import threading
from typing import Iterator

from pianocoach.appliance.config import InputConfig
from pianocoach.inputs import open_file
from pianocoach.inputs.base import BLOCK_SECONDS, Block


class ReplaySource:
    """A file's blocks (at playing speed when ``realtime``), then the silence after the last note: it
    stays open, like a microphone, until ``stop()`` or ``hold_s`` seconds (None: only ``stop()``)."""

    def __init__(
        self, path: str, block_seconds: float = BLOCK_SECONDS, realtime: bool = True, hold_s: float | None = 0.0
    ) -> None:
        self.file = open_file(path, block_seconds, realtime)
        self.kind, self.name = self.file.kind, self.file.name
        self.hold_s = hold_s
        self._stopped = threading.Event()

    def blocks(self) -> Iterator[Block]:
        for block in self.file.blocks():
            yield block
            if self._stopped.is_set():
                return
        self._stopped.wait(self.hold_s)

    def stop(self) -> None:
        self._stopped.set()
        self.file.stop()


def open_source(config: InputConfig):
    """A fresh source for one performance. Files are read (and refused with their reason) here."""
    if config.source == "file":
        if not config.file:
            from pianocoach.appliance.config import ConfigError

            raise ConfigError('input.file: the file to replay is not set (input.source = "file")')
        # after the file: silence, until a press or input.silence_stop_s (0: only a press)
        return ReplaySource(config.file, config.block_seconds, config.realtime, config.silence_stop_s or None)
    if config.source == "midi":
        from pianocoach.inputs.midi_port import MidiPortSource

        return MidiPortSource(port_name=config.midi_port or None, block_seconds=config.block_seconds)
    from pianocoach.inputs.microphone import MicrophoneSource

    device = int(config.microphone) if config.microphone.isdigit() else (config.microphone or None)
    return MicrophoneSource(config.sample_rate, config.block_seconds, device)
