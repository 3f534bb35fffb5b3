"""When a take ends by itself: a maximum length, and a silence (or gap between notes) long enough once
playing has begun. The appliance and ``pianocoach score`` both use :class:`TakeWatch`, so neither a
recording nor a MIDI file of any length, nor a note 13 hours after the rest, can keep a take going."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pianocoach.inputs.base import Block

log = logging.getLogger(__name__)

QUIET_DB = -120.0  # the level of a MIDI block without a key press
FILE_SILENCE_STOP_S = 30.0  # `pianocoach score`: a gap this long in a file ends the take (the appliance: 8 s)


@dataclass(frozen=True)
class TakeLimits:
    max_seconds: float = 15 * 60.0  # input.max_minutes
    silence_stop_s: float = 8.0  # this long without playing, once playing has begun, ends the take (0: never)
    silence_db: float = -50.0  # an audio block quieter than this (dBFS RMS) counts as silence


def block_level(block: Block) -> tuple[float, float]:
    """(0..1 for the level meter, dB) of one block: RMS dBFS (mapped from -60..0 onto the meter) for
    audio; for MIDI the mean key velocity, and 0 dB, or -120 dB for a block without key presses."""
    if block.audio is not None:
        if not len(block.audio):
            return 0.0, QUIET_DB
        db = 20 * np.log10(float(np.sqrt(np.mean(np.square(block.audio, dtype=np.float64)))) + 1e-10)
        return min(1.0, max(0.0, (db + 60) / 60)), db
    velocities = [e.value for e in block.events if e.kind == "on"]
    return (float(np.mean(velocities)) / 127 if velocities else 0.0), (0.0 if velocities else QUIET_DB)


class TakeWatch:
    """Feed it every block; it says when the take should end, and why (``reason``, for the result)."""

    def __init__(self, limits: TakeLimits) -> None:
        self.limits = limits
        self.played = False
        self.quiet_since: float | None = None
        self.reason = ""
        self.at_limit = False  # the take reached max_seconds (news; a silence is how takes usually end)

    def should_stop(self, block: Block, db: float) -> bool:
        if self.reason:
            return True
        silent = db < self.limits.silence_db
        self.played = self.played or not silent
        self.quiet_since = (self.quiet_since if self.quiet_since is not None else block.start) if silent else None
        quiet = block.end - self.quiet_since if self.quiet_since is not None else 0.0
        if self.limits.silence_stop_s and self.played and quiet >= self.limits.silence_stop_s:
            self.reason = f"the take ended after {quiet:.0f} s of silence"
        elif block.end >= self.limits.max_seconds:
            self.at_limit = True
            self.reason = f"the take was stopped at the {self.limits.max_seconds / 60:g}-minute limit"
        if self.reason:
            log.info("%s (at %.1f s)", self.reason, block.end)
        return bool(self.reason)
