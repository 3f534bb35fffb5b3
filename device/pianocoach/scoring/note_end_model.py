"""The bundle's note-end model (role ``note_end``): when each note heard in a microphone take stops sounding
(:mod:`pianocoach.features.note_ends` computes what it reads; issue 19, note-with-offset F1 0.20 with basic-pitch's
own ends, 0.45 with the model's on held-out renders, ``reports/note_end``).

A bundle's note-end model is checked before use: the feature version and names it learned must be this device's, one
float input [notes, features] (its first output is read). Its features read the pedal the bundle's pedal model hears,
so it names that model (``pedal_sha256``) and a bundle pairing it with another pedal model, or none, is refused
(``Manifest.note_end_problem``).

A model that fails or gives anything but one finite number per note is dropped for that take: the notes keep the ends
the transcriber heard, never made-up ones.

What the device does with the ends: ``pianocoach transcribe`` writes them into the MIDI file. A take is still scored
with the transcriber's own ends: the transcription scorer learned from those.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pianocoach.errors import BundleError, PianoCoachError
from pianocoach.features.note_ends import FEATURE_NAMES, NOTE_END_VERSION, note_end_features, sounding_ends
from pianocoach.features.notes import NoteTable
from pianocoach.scoring.note_graph import note_input, per_note

log = logging.getLogger(__name__)

NOTE_END_ROLE = "note_end"


class NoteEndModelError(PianoCoachError, RuntimeError):
    """The note-end model failed on a take (the notes of that take then keep the ends the transcriber heard)."""


class NoteEndModel:
    """The bundle's ``note_end`` ONNX graph and what it learned, checked against this device's features."""

    def __init__(self, session, metrics: dict, where: Path) -> None:
        self.session = session
        version = metrics.get("features_version")
        if version != NOTE_END_VERSION or metrics.get("features") != list(FEATURE_NAMES):
            raise BundleError(
                where,
                f"its note-end model learned note-end features version {str(version)[:20]} "
                f"({str(metrics.get('features'))[:60]}), this device computes version {NOTE_END_VERSION} "
                f"({len(FEATURE_NAMES)} numbers): rebuild the bundle (make note-end-model bundle-note-end)",
            )
        self.input_name = note_input(session, where, "note-end model", len(FEATURE_NAMES))

    def log_ratios(self, features: np.ndarray) -> np.ndarray:
        """The model's log(sounding length / heard length) for notes whose features are ``features``."""
        if not len(features):
            return np.zeros(0)
        return per_note(self.session, self.input_name, features, NoteEndModelError, "note-end model")

    def ends(self, table: NoteTable, pedal: np.ndarray, bands: np.ndarray) -> np.ndarray:
        """When each note of ``table`` (the transcriber's notes, its amplitudes as velocities) stops sounding, from the
        pedal model's probability per frame ``pedal`` and the sound profile's frames ``bands`` [MEL_BANDS, frames]."""
        if not len(table):
            return np.zeros(0)
        if not min(len(pedal), bands.shape[1] if bands.ndim == 2 else 0):
            raise NoteEndModelError("the note-end model has no frames to read")
        return sounding_ends(table, self.log_ratios(note_end_features(table, pedal, bands)))
