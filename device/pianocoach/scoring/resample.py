"""Resampling a capture once per performance: the transcriber and the audio features both work at 22,050 Hz,
so the session resamples each block once and hands the same samples to both."""

from __future__ import annotations

import numpy as np


class StreamResampler:
    """A capture stream at its own rate, resampled to ``target_rate`` chunk by chunk by soxr (its output does
    not depend on the chunking). A capture already at the target rate passes through unchanged: soxr would
    return it unchanged too (checked sample for sample), so skipping it changes no number."""

    def __init__(self, target_rate: int, name: str = "audio") -> None:
        self.target_rate = target_rate
        self.name = name
        self.rate = 0  # the capture's rate, fixed by the first chunk
        self._stream = None

    def feed(self, audio: np.ndarray, rate: int) -> np.ndarray:
        if not self.rate:
            self.rate = rate
            if rate != self.target_rate:
                import soxr

                self._stream = soxr.ResampleStream(rate, self.target_rate, 1, dtype="float32")
        elif rate != self.rate:
            raise ValueError(f"{self.name}: sample rate changed from {self.rate} to {rate} Hz")
        chunk = np.asarray(audio, dtype=np.float32)
        return chunk if self._stream is None else self._stream.resample_chunk(chunk, last=False)

    def flush(self) -> np.ndarray:
        """What the resampler still holds at the end of the stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        return self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
