"""The microphone, through sounddevice (PortAudio). The audio callback only copies into a queue; blocks
are assembled in the caller's thread. Overflows are counted and reported, never fatal."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Iterator

import numpy as np

from pianocoach.inputs.base import BLOCK_SECONDS, Block, InputDeviceError

log = logging.getLogger(__name__)


class MicrophoneSource:
    kind = "audio"

    def __init__(
        self,
        sample_rate: int = 44100,
        block_seconds: float = BLOCK_SECONDS,
        device: int | str | None = None,
        stall_s: float = 2.0,
    ) -> None:
        self.name = "microphone"
        self.stall_s = stall_s  # no audio for this long while listening: the device is gone
        self.sample_rate = sample_rate
        self.block_seconds = block_seconds
        self.device = device
        self.overflows = 0
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._stop = threading.Event()

    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        """PortAudio's thread: copy and return at once (no allocation-heavy work, no logging)."""
        if status and status.input_overflow:
            self.overflows += 1
        self._queue.put(indata[:, 0].copy())

    def blocks(self) -> Iterator[Block]:
        import sounddevice as sd

        size = int(round(self.block_seconds * self.sample_rate))
        try:
            stream = sd.InputStream(
                samplerate=self.sample_rate, channels=1, dtype="float32", device=self.device, callback=self._callback
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise InputDeviceError(f"microphone: cannot open an input device ({exc})") from exc
        with stream:
            yield from self._assemble(size)

    def _assemble(self, size: int) -> Iterator[Block]:
        """Cut the queued chunks into blocks of ``size`` samples until stopped (then flush the rest)."""
        pending: list[np.ndarray] = []
        have, index, start = 0, 0, 0
        last_audio = time.monotonic()
        while True:
            stopping = self._stop.is_set()
            try:
                chunk = self._queue.get(timeout=0.05)
                pending.append(chunk)
                have += len(chunk)
                last_audio = time.monotonic()
            except queue.Empty:
                # PortAudio does not always raise when a USB or I2S device goes away: its callback just stops
                if not stopping and time.monotonic() - last_audio > self.stall_s:
                    raise InputDeviceError(
                        f"{self.name}: no audio for {self.stall_s:.0f} s: the input device stopped or was unplugged"
                    )
                if not stopping:
                    continue
            while have >= size or (stopping and have and self._queue.empty()):
                audio = np.concatenate(pending)
                block, rest = audio[:size], audio[size:]
                pending, have = ([rest] if len(rest) else []), len(rest)
                if self.overflows:
                    log.warning("microphone: %d input overflow(s) so far", self.overflows)
                yield Block(
                    index,
                    start / self.sample_rate,
                    (start + len(block)) / self.sample_rate,
                    audio=block,
                    sample_rate=self.sample_rate,
                    overflows=self.overflows,
                )
                index, start = index + 1, start + len(block)
            if stopping and self._queue.empty() and not have:
                return

    def stop(self) -> None:
        self._stop.set()
