"""A long microphone take for the tests: the shared 16 s performance repeated, fed to a session in 2 s blocks."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from pianocoach.inputs.base import Block
from pianocoach.scoring import ScoringSession, SessionSettings
from pianocoach.scoring.notes_stream import AudioNoteStream
from pianocoach.transcription import StreamingTranscriber


def score_long_take(wav, scorer, pedal=None, repeats: int = 4):
    """The performance ``repeats`` times over (64 s, mono), scored by its windows past 10 s (the whole-decode length
    and the whole-take length lowered to 10 s); returns (session, result)."""
    audio, rate = sf.read(str(wav), dtype="float32")
    audio = np.tile(audio.mean(axis=1) if audio.ndim > 1 else audio, repeats).astype(np.float32)
    # the velocities heard as the device hears them (the default bundle's scorer learned from them)
    stream = AudioNoteStream(
        "long", StreamingTranscriber(decode_whole_s=10.0), pedal=pedal, velocity=scorer.velocity_model
    )
    # scored by its windows (a take as short as the training clips is scored whole and counts its windows only)
    session = ScoringSession(scorer, "audio", "long", SessionSettings(whole_take_max_s=10.0), notes=stream)
    size = 2 * rate
    for index, start in enumerate(range(0, len(audio), size)):
        chunk = audio[start : start + size]
        session.add(Block(index, start / rate, (start + len(chunk)) / rate, audio=chunk, sample_rate=rate))
    return session, session.finish()
