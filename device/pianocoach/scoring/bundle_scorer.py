"""The MIDI scorer of an installed, verified bundle, run by ONNX Runtime on one thread."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pianocoach.bundle import DEFAULT_BUNDLE, load_verified
from pianocoach.bundle.signing import TrustedKey
from pianocoach.errors import BundleError
from pianocoach.scales import SCALE_NAMES

log = logging.getLogger(__name__)

MIDI_SCORER = "midi_scorer"
AUDIO_SCORER = "audio_scorer"  # trained on transcribed renders (the audio-scorer issue); optional


class BundleScorer:
    def __init__(self, bundle: str | Path | None = None, keys: list[TrustedKey] | None = None, threads: int = 1) -> None:
        self.path = Path(bundle or DEFAULT_BUNDLE)
        if not self.path.exists():
            raise BundleError(self.path, "no model bundle installed here")
        if not self.path.is_dir():
            raise BundleError(self.path, "a bundle to score with must be an unpacked folder (tar -xf it first)")
        verified = load_verified(self.path, keys, threads=threads)
        self.manifest = verified.manifest
        self.sessions = {}
        for model in self.manifest.models:
            if model.role in (MIDI_SCORER, AUDIO_SCORER):
                if tuple(model.labels) != SCALE_NAMES:
                    raise BundleError(self.path, f"{model.file}: its labels are not the 19 PercePiano scales in order")
                self.sessions[model.role] = (verified.sessions[model.file], model.inputs[0].name)
        if MIDI_SCORER not in self.sessions:
            raise BundleError(self.path, "the bundle has no midi_scorer model")
        log.info("scoring with bundle %s (%s)", self.manifest.bundle_id, self.path)

    @property
    def bundle_id(self) -> str:
        return self.manifest.bundle_id

    def has_audio_scorer(self) -> bool:
        return AUDIO_SCORER in self.sessions

    def score(self, vector: np.ndarray, source: str = "midi") -> np.ndarray:
        """19 scale values for one feature vector (the audio scorer for audio when the bundle has one)."""
        role = AUDIO_SCORER if source == "audio" and self.has_audio_scorer() else MIDI_SCORER
        session, input_name = self.sessions[role]
        return session.run(None, {input_name: vector.reshape(1, -1).astype(np.float32)})[0][0]
