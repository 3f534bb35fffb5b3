"""The key velocities as the device hears them, for the transcription path (issue 19, item 3): the velocity model the
bundle ships hears each transcribed render's notes in its sound-profile frames (kept by ``make audio-render``), as
``AudioNoteStream.heard_velocities`` does at the end of a take, and the heard velocities replace basic-pitch's
amplitudes before the descriptor vector is computed.

The velocity model is ``artifacts/velocity/velocity.onnx`` when ``make velocity-model`` has trained one, else the
committed default bundle's; its sha256 names the vectors' cache and is written into the runs trained on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pianocoach.features import NoteTable
from pianocoach.features.note_velocity import NOTE_VELOCITY_VERSION, OnsetFrames
from pianocoach.scoring.velocity_model import VELOCITY_ROLE, VelocityModel
from pianocoach_train.audio.model_source import ModelSource, find_source, onnx_session


@dataclass(frozen=True)
class VelocitySource(ModelSource):
    """A velocity model file, its sha256 and the metrics the device checks it by."""

    @property
    def spread(self) -> dict | None:
        """The spread the device applies to the graph's velocities (a model's velocities are its graph and this)."""
        return self.metrics.get("spread")

    def run_identity(self) -> dict:
        """What a run trained on this model's velocities records, and must match to be reused."""
        return {
            "heard_velocity": self.sha256,
            "note_velocity_version": NOTE_VELOCITY_VERSION,
            "velocity_spread": self.spread,
        }

    def cache_tag(self) -> str:
        """A short name for what these velocities depend on: the graph's sha256 and the spread."""
        import hashlib
        import json

        spread = hashlib.sha256(json.dumps(self.spread, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.sha256[:12]}-s{spread}"


def velocity_source() -> VelocitySource:
    """The trained velocity model (``artifacts/velocity``) when there is one, else the committed default bundle's."""
    return find_source(VelocitySource, VELOCITY_ROLE, "velocity", "velocity.onnx", "velocity-model")


def velocity_model(source: VelocitySource) -> VelocityModel:
    return VelocityModel(onnx_session(str(source.path), source.sha256), source.metrics, source.path)


def heard_velocities(table: NoteTable, bands: np.ndarray, source: VelocitySource) -> np.ndarray:
    """The velocities the velocity model hears for ``table``'s notes in ``bands`` [MEL_BANDS, T] (the whole take's
    frames, as the device reads them once the take has ended)."""
    frames = OnsetFrames()
    frames.add(np.asarray(bands, dtype=np.float32))
    return velocity_model(source).velocities(frames.features(table))
