"""Feeding audio to the streaming transcriber, shared by tests/device/test_transcription.py and
tests/host/test_transcription_reference.py (device-side code only, so both lanes can import it)."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import soxr

from pianocoach.transcription import SAMPLE_RATE, StreamingTranscriber

LONG_WHOLE_S = 10.0  # the long-take tests lower DECODE_WHOLE_S so that 48 s of audio is a long take
BLOCK = 2 * SAMPLE_RATE  # the device feeds 2 s blocks
LIVE_S = 22.0  # the device asks for the last ~22 s while playing


def resampled(path):
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return soxr.resample(audio.mean(axis=1), rate, SAMPLE_RATE)


def fed(transcriber, audio, block):
    for start in range(0, len(audio), block):
        transcriber.feed(audio[start : start + block])
    return transcriber


def long_take(wav) -> dict:
    """48 s (the performance three times) with DECODE_WHOLE_S lowered to 10 s: a long take in 2 s blocks with a
    live_notes(now - 22 s) call per block. ``audio``, the ``streamed`` transcriber, its ``final`` notes and the
    ``live`` (since, settled until, live notes, frames held) per block."""
    audio = np.tile(resampled(wav), 3)
    streamed, live = StreamingTranscriber(decode_whole_s=LONG_WHOLE_S), []
    for start in range(0, len(audio), BLOCK):
        streamed.feed(audio[start : start + BLOCK])
        since = (start + BLOCK) / SAMPLE_RATE - LIVE_S
        live.append((since, streamed.settled_until_s, streamed.live_notes(since), streamed.frames_held))
    return {"audio": audio, "streamed": streamed, "final": streamed.notes(final=True), "live": live}
