"""The bundle's pedal model (role ``pedal``): the sustain pedal heard in a microphone take, as CC64 events with a
confidence (:mod:`pianocoach.features.pedal_frames` runs it).

A bundle's pedal model is checked before use: the frame version and band count it learned must be this device's,
its reach within :data:`~pianocoach.features.pedal_frames.CONTEXT_FRAMES`, one input and one output. While a take is
scored, a model that fails or gives anything but one probability per frame is dropped for that take and the pedal is
unknown: a pedal model never stops a take from being scored.

What the device does with the estimate (:mod:`pianocoach.scoring.input_limits`): when the take's ``confidence``
reaches :data:`RELIABLE_FROM`, the share of pedal down is shown, marked estimated with the confidence (the pedal
changes stay unknown: presses are hardly heard); below it both are unknown. A transcription scorer that learned from
this model's pedal (its ``heard_pedal`` metric names the model's sha256; issue 19, item 3) scores a microphone take
with every event heard, as it was trained. The two pedal scales stay unknown for a microphone take, and the feedback
is told the pedal is unknown, so it never quotes the heard pedal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pianocoach.errors import BundleError, PianoCoachError
from pianocoach.features.pedal_frames import (
    CONTEXT_FRAMES,
    PEDAL_FRAMES_VERSION,
    PedalTracker,
    confidence,
    down_frames,
    pedal_events,
)
from pianocoach.features.sound_profile import MEL_BANDS

log = logging.getLogger(__name__)

PEDAL_ROLE = "pedal"
# the mean of max(p, 1 - p) over a take from which its pedal-down share is shown: set at 0.8, checked on the
# early-stopping takes (fold 0: 89 % shown, their error 9.2 points against 13.6 for those withheld; reports/pedal)
RELIABLE_FROM = 0.8


class PedalModelError(PianoCoachError, RuntimeError):
    """The pedal model failed on a take (the pedal of that take is then unknown)."""


@dataclass(frozen=True)
class HeardPedal:
    """The sustain pedal a microphone take's pedal model heard."""

    events: np.ndarray  # CC64 (time s, value 0 or 127)
    confidence: float  # 0.5 (a guess) .. 1
    down_share: float  # of the take's frames

    @property
    def reliable(self) -> bool:
        return self.confidence >= RELIABLE_FROM


class PedalModel:
    """The bundle's ``pedal`` ONNX graph and what it learned, checked against this device's frames."""

    def __init__(self, session, metrics: dict, where: Path) -> None:
        self.session = session
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise BundleError(
                where, f"its pedal model has {len(inputs)} inputs and {len(outputs)} outputs, not 1 and 1"
            )
        self.input_name = inputs[0].name
        types = (inputs[0].type, outputs[0].type)
        if types != ("tensor(float)", "tensor(float)"):
            raise BundleError(where, f"its pedal model maps {types[0][:40]} to {types[1][:40]}, not float tensors")
        learned = str(metrics.get("frames_version"))[:20]
        if metrics.get("frames_version") != PEDAL_FRAMES_VERSION or metrics.get("bands") != MEL_BANDS:
            raise BundleError(
                where,
                f"its pedal model learned frames version {learned} with {str(metrics.get('bands'))[:20]} bands, "
                f"this device computes version {PEDAL_FRAMES_VERSION} with {MEL_BANDS}: rebuild the bundle "
                "(make pedal-model bundle-pedal)",
            )
        reach = metrics.get("reach_frames")
        if not isinstance(reach, int) or isinstance(reach, bool) or not 0 <= reach <= CONTEXT_FRAMES:
            raise BundleError(
                where,
                f"its pedal model's reach {str(reach)[:20]} frames is not a whole number within 0..{CONTEXT_FRAMES}",
            )
        shape = inputs[0].shape
        if not shape or len(shape) != 3 or (isinstance(shape[1], int) and shape[1] != MEL_BANDS):
            raise BundleError(where, f"its pedal model reads {shape}, not [1, {MEL_BANDS}, frames]")

    def run(self, bands: np.ndarray) -> np.ndarray:
        """The probability that the pedal is down in each frame of ``bands`` [1, MEL_BANDS, T]."""
        try:
            out = self.session.run(None, {self.input_name: np.asarray(bands, dtype=np.float32)})[0]
            p = np.asarray(out, dtype=np.float32).reshape(-1)
        except Exception as exc:  # onnxruntime raises its own exception types; a non-tensor output fails to convert
            raise PedalModelError(f"the pedal model failed: {str(exc)[:200]}") from exc
        if len(p) != bands.shape[-1] or not np.all(np.isfinite(p)) or p.min(initial=0) < 0 or p.max(initial=0) > 1:
            raise PedalModelError(f"the pedal model gave {len(p)} values that are not probabilities per frame")
        return p

    def tracker(self) -> PedalTracker:
        return PedalTracker(self.run)


def pedal_from_probabilities(probabilities: np.ndarray) -> HeardPedal:
    """What a take's per-frame probabilities say of its pedal."""
    down = down_frames(probabilities)
    return HeardPedal(
        pedal_events(probabilities), round(confidence(probabilities), 3), float(down.mean()) if len(down) else 0.0
    )
