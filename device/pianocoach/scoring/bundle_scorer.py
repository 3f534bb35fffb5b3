"""The scorers of an installed, verified bundle, run by ONNX Runtime on one thread.

Roles: ``midi_scorer`` (descriptor vector of MIDI notes; required), ``transcription_scorer`` (the same
family trained on transcriptions of rendered audio; scores the notes transcribed from a microphone),
``audio_scorer`` (a block model on the audio features: mel, pitch contour, rhythm). How microphone input
is scored is the manifest's ``audio_path`` (see :class:`AudioPath`), never a code edit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pianocoach.bundle import DEFAULT_BUNDLE, load_verified
from pianocoach.bundle.manifest import Manifest
from pianocoach.bundle.signing import TrustedKey
from pianocoach.errors import BundleError
from pianocoach.rating_scales import SCALE_NAMES, ExpressionScale, overall_mark
from pianocoach.scoring.note_end_model import NOTE_END_ROLE, NoteEndModel
from pianocoach.scoring.pedal_model import PEDAL_ROLE, PedalModel
from pianocoach.scoring.sound_check import SOUND_CHECK_ROLE, SoundCheck
from pianocoach.scoring.velocity_model import VELOCITY_ROLE, VelocityModel

log = logging.getLogger(__name__)

MIDI_SCORER = "midi_scorer"
TRANSCRIPTION_SCORER = "transcription_scorer"  # trained on transcribed renders
AUDIO_SCORER = "audio_scorer"  # block model on audio features
SCORER_ROLES = (MIDI_SCORER, TRANSCRIPTION_SCORER, AUDIO_SCORER)
AUDIO_MODES = ("audio_model", "fusion", "transcription")
INPUT_KINDS = ("midi", "audio")
# what scoring a microphone take runs, besides the MIDI scorer when the bundle has no transcription scorer
AUDIO_ROLES = (TRANSCRIPTION_SCORER, AUDIO_SCORER, SOUND_CHECK_ROLE, PEDAL_ROLE, VELOCITY_ROLE, NOTE_END_ROLE)


def roles_for(manifest: Manifest, inputs: Collection[str]) -> set[str]:
    """The model roles that scoring ``inputs`` ("midi", "audio") runs with this bundle."""
    unknown = set(inputs) - set(INPUT_KINDS)
    if unknown:
        raise ValueError(f"unknown input kinds {sorted(unknown)} (known: {', '.join(INPUT_KINDS)})")
    roles = {MIDI_SCORER} if "midi" in inputs else set()
    if "audio" in inputs:
        roles.update(AUDIO_ROLES)
        if manifest.model(TRANSCRIPTION_SCORER) is None:
            roles.add(MIDI_SCORER)  # transcribed notes are scored by the MIDI scorer (provisional results)
    return roles


@dataclass(frozen=True)
class AudioPath:
    """How audio input is scored: ``audio_model`` alone, ``fusion`` (audio_weight x audio model +
    (1 - audio_weight) x notes path) or ``transcription`` (notes path only). The notes path uses the
    transcription scorer when the bundle has one, else the MIDI scorer (then results are provisional)."""

    mode: str = "transcription"
    audio_weight: float = 0.0

    @property
    def uses_audio_model(self) -> bool:
        return self.mode in ("audio_model", "fusion")


class BundleScorer:
    def __init__(
        self,
        bundle: str | Path | None = None,
        keys: list[TrustedKey] | None = None,
        threads: int = 1,
        inputs: Collection[str] | None = None,
    ) -> None:
        """``inputs``: the input kinds this scorer will score ("midi", "audio"); only their models stay open (every
        model is verified all the same: a MIDI scorer session holds about 33 MB, the transcription scorer's 24 MB).
        None: every model of the bundle stays open (the health check runs them all)."""
        self.inputs = tuple(INPUT_KINDS if inputs is None else inputs)
        unknown = set(self.inputs) - set(INPUT_KINDS)
        if unknown:  # a caller's mistake, said before any bundle is read
            raise ValueError(f"unknown input kinds {sorted(unknown)} (known: {', '.join(INPUT_KINDS)})")
        self.path = Path(bundle or DEFAULT_BUNDLE)
        if not self.path.exists():
            raise BundleError(self.path, "no model bundle installed here")
        if not self.path.is_dir():
            raise BundleError(
                self.path,
                "a bundle to score with must be a folder (install a .tar with "
                "`pianocoach install-bundle`, which verifies it before writing anything)",
            )
        # the folder as it is now (``bundles/current`` is a link an install may switch): what is verified
        # here is what every later read (the feedback model) uses
        self.folder = Path(os.path.realpath(self.path))
        keep = None if inputs is None else lambda manifest, model: model.role in roles_for(manifest, self.inputs)
        self.verification = verified = load_verified(self.folder, keys, threads=threads, keep=keep)
        assert verified.manifest is not None  # load_verified raises unless the manifest was read and passed
        self.manifest = verified.manifest
        self.sessions = {}  # the scorers of the roles this scorer's inputs need
        self.input_names: dict[str, tuple[str, ...]] = {}
        self.input_widths: dict[str, int | None] = {}  # a vector model's declared feature count
        for model in self.manifest.models:
            if model.role in SCORER_ROLES:
                if tuple(model.labels) != SCALE_NAMES:
                    raise BundleError(self.path, f"{model.file}: its labels are not the 19 PercePiano scales in order")
                if model.file in verified.sessions:
                    self.sessions[model.role] = verified.sessions[model.file]
                self.input_names[model.role] = tuple(t.name for t in model.inputs)
                width = model.inputs[0].shape[-1] if model.inputs and model.inputs[0].shape else None
                self.input_widths[model.role] = width if isinstance(width, int) else None
        if self.manifest.model(MIDI_SCORER) is None:
            raise BundleError(self.path, "the bundle has no midi_scorer model")
        for role in sorted(roles_for(self.manifest, self.inputs) & set(SCORER_ROLES)):
            entry = self.manifest.model(role)
            if entry is not None and role not in self.sessions:  # listed, but verification opened no session
                raise BundleError(self.path, f"its {role} {entry.file[:80]!r} is not an ONNX model")
        midi_model = next(m for m in self.manifest.models if m.role == MIDI_SCORER)
        try:
            self.expression_scale = ExpressionScale.from_metrics(midi_model.metrics.get("expression_scale"))
        except ValueError as exc:
            raise BundleError(self.path, f"{midi_model.file}: {exc}") from None
        self.audio_path = self._audio_path()
        hears = "audio" in self.inputs  # the microphone's models, for a scorer of microphone takes only
        self.sound_check = self._sound_check() if hears else None
        self.pedal_model = self._pedal_model() if hears else None
        self.velocity_model = self._velocity_model() if hears else None
        self.note_end_model = self._note_end_model() if hears else None
        # whether the transcription scorer learned from the pedal the bundle's pedal model hears (issue 19, item 3):
        # then a microphone take is scored with that pedal, as the scorer was trained
        self.transcription_hears_pedal = self._transcription_hears_pedal()
        # and whether it learned from the key velocities the bundle's velocity model hears
        self.transcription_hears_velocity = self._transcription_hears_velocity()
        log.info(
            "scoring with bundle %s (%s); audio input: %s", self.manifest.bundle_id, self.path, self.audio_path.mode
        )

    def _audio_path(self) -> AudioPath:
        spec = self.manifest.audio_path
        if not spec:
            return AudioPath("audio_model", 1.0) if self._has(AUDIO_SCORER) else AudioPath()
        mode = spec.get("mode")
        if mode not in AUDIO_MODES:
            raise BundleError(self.path, f"manifest audio_path mode {mode!r} is not one of {', '.join(AUDIO_MODES)}")
        weight = float(spec.get("audio_weight", 1.0 if mode == "audio_model" else 0.0))
        if mode != "transcription" and not self._has(AUDIO_SCORER):
            raise BundleError(self.path, f"manifest audio_path mode {mode!r} needs an audio_scorer model")
        if not 0.0 <= weight <= 1.0:
            raise BundleError(self.path, f"manifest audio_path audio_weight {weight} is not within 0..1")
        return AudioPath(mode, weight)

    def _sound_check(self) -> SoundCheck | None:
        """The bundle's "is this a piano?" model; None (microphone takes go unchecked) for a bundle without one."""
        unchecked = "microphone takes are not checked for being a piano"
        found = self._optional_model(SOUND_CHECK_ROLE, "sound check", unchecked)
        return None if found is None else SoundCheck(found[0], found[1], self.path)

    def _pedal_model(self) -> PedalModel | None:
        """The bundle's pedal model; None (the pedal of a microphone take is unknown) for a bundle without one."""
        found = self._optional_model(PEDAL_ROLE, "pedal model", "the pedal of microphone takes is unknown")
        return None if found is None else PedalModel(found[0], found[1], self.path)

    def _velocity_model(self) -> VelocityModel | None:
        """The bundle's velocity model; None (a microphone take's key velocities are unknown) without one."""
        found = self._optional_model(
            VELOCITY_ROLE, "velocity model", "the key velocities of microphone takes are unknown"
        )
        return None if found is None else VelocityModel(found[0], found[1], self.path)

    def _note_end_model(self) -> NoteEndModel | None:
        """The bundle's note-end model; None (a microphone take's notes end where the transcriber lost them) without
        one. Verification refused a bundle pairing it with another pedal model than it learned with, or none."""
        problem = self.manifest.note_end_problem()
        if problem:  # verification says so first; kept for a manifest checked some other way
            raise BundleError(self.path, problem)
        found = self._optional_model(
            NOTE_END_ROLE, "note-end model", "the notes of microphone takes end where the transcriber lost them"
        )
        return None if found is None else NoteEndModel(found[0], found[1], self.path)

    def _transcription_hears_pedal(self) -> bool:
        """True when the transcription scorer learned from the pedal the bundle's pedal model hears (verification
        refused a bundle pairing it with another pedal model, or none: ``Manifest.heard_pedal_problem``)."""
        problem = self.manifest.heard_pedal_problem()
        if problem:  # verification says so first; kept for a manifest checked some other way
            raise BundleError(self.path, problem)
        return self.manifest.learned_heard_pedal()

    def _transcription_hears_velocity(self) -> bool:
        problem = self.manifest.heard_velocity_problem()
        if problem:  # verification says so first; kept for a manifest checked some other way
            raise BundleError(self.path, problem)
        return self.manifest.learned_heard_velocity()

    def _optional_model(self, role: str, what: str, without: str) -> tuple[Any, dict] | None:
        """The ONNX session and metrics of the bundle's model of ``role``; None (logged: ``without``) without one."""
        entry = self.manifest.model(role)
        if entry is None:
            log.info("bundle %s has no %s: %s", self.bundle_id, what, without)
            return None
        session = self.verification.sessions.get(entry.file)
        if session is None:
            raise BundleError(self.path, f"its {what} {entry.file[:80]!r} is not an ONNX model")
        return session, entry.metrics

    @property
    def bundle_id(self) -> str:
        return self.manifest.bundle_id

    def audio_is_provisional(self) -> bool:
        """Audio scores come from a scorer that never learned from audio."""
        return not (self.audio_path.uses_audio_model or self._has(TRANSCRIPTION_SCORER))

    def _has(self, role: str) -> bool:
        """The bundle has a model of ``role`` (open or not)."""
        return self.manifest.model(role) is not None

    def _loaded_for(self, source: str) -> None:
        if source not in self.inputs:
            raise ValueError(f"this scorer was loaded for {' and '.join(self.inputs)} input, not {source}")

    def expression_mark(self, scores: np.ndarray | list[float], leave_out: Collection[str] = ()) -> float:
        """The 19-scale mark of ``scores``, spread as the listeners' marks are (the bundle's expression scale);
        ``leave_out``: scales the input cannot show."""
        return self.expression_scale.apply(overall_mark(list(scores), leave_out))

    def score(self, vector: np.ndarray, source: str = "midi") -> np.ndarray:
        """19 scale values for one descriptor vector (transcribed notes use the transcription scorer when
        the bundle has one)."""
        self._loaded_for(source)
        role = TRANSCRIPTION_SCORER if source == "audio" and self._has(TRANSCRIPTION_SCORER) else MIDI_SCORER
        name = self.input_names[role][0]
        width = self.input_widths.get(role)
        if width is not None and width < len(vector):
            # a model trained before the vector grew (feature version 4 appended the score-relative descriptors)
            # reads the columns it knows: the vector only ever grows at its end
            vector = vector[:width]
        return self.sessions[role].run(None, {name: vector.reshape(1, -1).astype(np.float32)})[0][0]

    def score_audio_block(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """19 scale values for one 2 s block of audio features (``BlockFeatures.feeds()``)."""
        self._loaded_for("audio")
        names = self.input_names[AUDIO_SCORER]
        return self.sessions[AUDIO_SCORER].run(None, {n: feeds[n] for n in names})[0][0]
