"""A digital piano's MIDI out, through mido with the python-rtmidi backend: note on/off, sustain and
soft pedal, time-stamped on arrival. The better path when the piano has MIDI out (no transcription)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Iterator

from pianocoach.features.notes import SOFT_CC, SUSTAIN_CC
from pianocoach.inputs.base import BLOCK_SECONDS, Block, InputDeviceError, MidiEvent

log = logging.getLogger(__name__)


def to_event(message, t: float) -> MidiEvent | None:
    """A mido message as a MidiEvent, or None for messages the scorer does not use."""
    if message.type == "note_on" and message.velocity > 0:
        return MidiEvent(t, "on", message.note, message.velocity)
    if message.type in ("note_off", "note_on"):  # note_on with velocity 0 is a release
        return MidiEvent(t, "off", message.note, 0)
    if message.type == "control_change" and message.control in (SUSTAIN_CC, SOFT_CC):
        return MidiEvent(t, "cc", message.control, message.value)
    return None


def open_port(name: str | None = None):
    import mido

    try:
        names = mido.get_input_names()
        if not names:
            raise InputDeviceError("MIDI: no input port found (is the piano connected by USB and switched on?)")
        chosen = name or names[0]
        if chosen not in names:
            raise InputDeviceError(f"MIDI: no input port named {chosen!r} (found: {', '.join(names)})")
        return mido.open_input(chosen)
    except (OSError, ImportError) as exc:  # rtmidi raises SystemError subclasses of OSError without ALSA
        raise InputDeviceError(f"MIDI: cannot open an input port ({exc})") from exc


class MidiPortSource:
    kind = "midi"

    def __init__(
        self,
        port=None,
        port_name: str | None = None,
        block_seconds: float = BLOCK_SECONDS,
        poll_s: float = 0.005,
        clock=time.monotonic,
    ) -> None:
        """``port``: an open mido input port (default: open ``port_name`` or the first one)."""
        self._port = port
        self.port_name = port_name
        self.name = getattr(port, "name", None) or port_name or "MIDI"
        self.block_seconds = block_seconds
        self.poll_s = poll_s
        self.clock = clock
        self._stop = threading.Event()

    def blocks(self) -> Iterator[Block]:
        port = self._port or open_port(self.port_name)
        t0 = self.clock()
        index, pending = 0, []
        try:
            while True:
                end = (index + 1) * self.block_seconds
                for message in port.iter_pending():
                    event = to_event(message, self.clock() - t0)
                    if event:
                        pending.append(event)
                now = self.clock() - t0
                if now >= end or self._stop.is_set():
                    yield Block(index, index * self.block_seconds, min(end, now), events=tuple(pending))
                    index, pending = index + 1, []
                    if self._stop.is_set():
                        return
                else:
                    time.sleep(self.poll_s)
        finally:
            if self._port is None:
                port.close()

    def stop(self) -> None:
        self._stop.set()
