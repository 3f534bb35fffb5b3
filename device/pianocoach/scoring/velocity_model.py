"""The bundle's velocity model (role ``velocity``): the key velocity of each note heard in a microphone take, from the
sound around its onset (:mod:`pianocoach.features.note_velocity` computes what it reads).

A bundle's velocity model is checked before use: the feature version and names it learned must be this device's,
one float input [notes, features] (its first output is read), and its spread (below) within bounds.

A model fitted to the least absolute error pulls every note toward the middle: its velocities spread about 30 % less
than the keys' (held-out renders, reports/velocity), which would make every take sound flatter than it was played.
The model states a ``spread`` (``centre``, ``scale``) fitted on its training takes so that the velocity range of a
take comes out as wide as played: each velocity is ``centre + scale x (raw - centre)``.

A model that fails or gives anything but one finite number per note is dropped for that take: the take's velocities
are then unknown, never made up.

What the device does with the velocities: ``pianocoach transcribe`` writes them into the MIDI file, a microphone
take's velocity range is measured on them (estimated), and a transcription scorer that learned from this model's
velocities (its ``heard_velocity`` metric names the model's sha256; issue 19, item 3) scores a microphone take with
them: the whole take with the velocities heard over the whole take, a window with those heard over the window
(:meth:`pianocoach.features.note_velocity.OnsetFrames.features`). A scorer that learned from basic-pitch's velocities
keeps reading those.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pianocoach.errors import BundleError, PianoCoachError
from pianocoach.features.note_velocity import FEATURE_NAMES, NOTE_VELOCITY_VERSION
from pianocoach.scoring.note_graph import note_input, per_note

log = logging.getLogger(__name__)

VELOCITY_ROLE = "velocity"


class VelocityModelError(PianoCoachError, RuntimeError):
    """The velocity model failed on a take (the velocities of that take are then unknown)."""


class VelocityModel:
    """The bundle's ``velocity`` ONNX graph and what it learned, checked against this device's features."""

    def __init__(self, session, metrics: dict, where: Path) -> None:
        self.session = session
        names = metrics.get("features")
        if metrics.get("features_version") == NOTE_VELOCITY_VERSION and names != list(FEATURE_NAMES):
            raise BundleError(
                where,
                f"its velocity model reads other note features than this device's version "
                f"{NOTE_VELOCITY_VERSION} computes: rebuild the bundle (make velocity-model bundle-transcription)",
            )
        if metrics.get("features_version") != NOTE_VELOCITY_VERSION:
            raise BundleError(
                where,
                f"its velocity model learned note features version {str(metrics.get('features_version'))[:20]}, "
                f"this device computes version {NOTE_VELOCITY_VERSION} ({len(FEATURE_NAMES)} numbers): rebuild the "
                "bundle (make velocity-model bundle-transcription)",
            )
        self.centre, self.scale = _spread(metrics.get("spread"), where)
        self.input_name = note_input(session, where, "velocity model", len(FEATURE_NAMES))

    def velocities(self, features: np.ndarray) -> np.ndarray:
        """Key velocities 1..127 (int) of notes whose features are ``features`` [n, len(FEATURE_NAMES)]."""
        if not len(features):
            return np.zeros(0, dtype=np.int64)
        values = per_note(self.session, self.input_name, features, VelocityModelError, "velocity model")
        return np.clip(np.round(self.centre + self.scale * (values - self.centre)), 1, 127).astype(np.int64)


def _spread(spread: object, where: Path) -> tuple[float, float]:
    """(centre, scale) of a model's stated spread: a centre within 1..127 and a scale within 0.5..3."""
    if not isinstance(spread, dict):
        raise BundleError(where, "its velocity model states no spread (centre and scale)")
    values = []
    for value in (spread.get("centre"), spread.get("scale")):
        try:  # a JSON integer may be too large for a float (OverflowError), or anything else at all
            number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
        except OverflowError:
            number = np.nan
        values.append(number)
    centre, scale = values
    if not (np.isfinite(centre) and np.isfinite(scale)):
        raise BundleError(where, f"its velocity model's spread {str(spread)[:60]} is not two numbers")
    if not (1 <= centre <= 127 and 0.5 <= scale <= 3):
        raise BundleError(where, f"its velocity model's spread (centre {centre}, scale {scale}) is out of bounds")
    return centre, scale
