"""Does a microphone take sound like a piano, loud and clear enough to score?

Three checks at the end of a microphone take, on its :class:`~pianocoach.features.sound_profile.SoundProfile`:

- **not a piano**: the bundle's ``sound_check`` model (a small classifier trained on renders of many General MIDI
  instruments, speech and noise; ``host_training/pianocoach_train/sound_check_model.py``) gives the probabilities
  of a piano, another struck or plucked instrument, and a held sound, speech or noise. Above the model's
  ``refuse_above`` for the last, or below its ``refuse_piano_below`` for a piano, the take is refused with a
  one-line reason and never scored or stored (unless it is very quiet or very noisy: then it is only warned
  about); below ``warn_below`` for a piano, it is scored with a warning (:func:`decide`). A bundle without the
  model skips this check (logged), as bundles made before it did;
- **very quiet**: the loudest moments below ``QUIET_BELOW_DB`` (scored, with a warning: the transcriber misses
  soft notes);
- **very noisy**: a mean spectral flatness above ``NOISY_FLATNESS`` (scored, with a warning): broadband noise fills
  the gaps between a piano's harmonics. The level's spread told noise from dense playing badly (a clean render of
  continuous playing can have a 9 dB spread); flatness did not. Only one of the two level warnings is given, the
  quiet one first.

MIDI takes are never checked: a keyboard's notes are what was played.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pianocoach.errors import BundleError, PianoCoachError
from pianocoach.features.notes import NoteTable
from pianocoach.features.sound_profile import PROFILE_NAMES, PROFILE_VERSION, SoundProfile

log = logging.getLogger(__name__)

SOUND_CHECK_ROLE = "sound_check"
CLASSES = ("piano", "struck or plucked", "held, speech or noise")  # the model's outputs, in order
PIANO, STRUCK, HELD = range(3)
# dBFS RMS of the loudest 5 % of 93 ms frames: a product rule, not a fit (renders of PercePiano reach -31 dBFS in
# the median, a take 25 dB quieter -56: README "Is it a piano?")
QUIET_BELOW_DB = -45.0
# the 99th percentile of the sound check's training pianos (most with 15-45 dB SNR noise), rounded: 0.162
NOISY_FLATNESS = 0.16


class NotAPianoError(PianoCoachError):
    """The microphone take does not sound like a piano: refused, never scored or stored."""


@dataclass(frozen=True)
class SoundVerdict:
    piano_probability: float | None  # None: the bundle has no sound check
    warnings: list[str] = field(default_factory=list)


class SoundCheck:
    """The bundle's ``sound_check`` model and its thresholds, checked against this code's profile. The model gives
    three probabilities (``CLASSES``): a piano, another struck or plucked instrument (a guitar, a harp, mallets: they
    decay like a piano), and a held sound (organ, strings, winds, voices), speech or noise."""

    def __init__(self, session, metrics: dict, where: Path) -> None:
        self.session = session
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise BundleError(
                where, f"its sound check has {len(inputs)} inputs and {len(outputs)} outputs, not 1 and 1"
            )
        self.input_name = inputs[0].name
        names, classes = metrics.get("profile_names"), metrics.get("classes")
        learned = str(metrics.get("profile_version"))[:20]
        if (
            metrics.get("profile_version") != PROFILE_VERSION
            or not isinstance(names, list)
            or tuple(names) != PROFILE_NAMES
        ):
            raise BundleError(
                where,
                f"its sound check learned sound profile version {learned}, this device computes version "
                f"{PROFILE_VERSION}: rebuild the bundle (make sound-check bundle-sound-check)",
            )
        width = inputs[0].shape[-1] if inputs[0].shape else None
        columns = outputs[0].shape[-1] if outputs[0].shape else None
        if (isinstance(width, int) and width != len(PROFILE_NAMES)) or (isinstance(columns, int) and columns != 3):
            raise BundleError(
                where, f"its sound check maps {width} numbers to {columns} classes, not {len(PROFILE_NAMES)} to 3"
            )
        if not isinstance(classes, list) or tuple(classes) != CLASSES:
            raise BundleError(where, f"its sound check's classes are {str(classes)[:80]}, not {list(CLASSES)}")
        found = [metrics.get(k) for k in ("refuse_above", "refuse_piano_below", "warn_below")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in found):
            raise BundleError(where, "its sound check has no refuse_above / refuse_piano_below / warn_below thresholds")
        self.refuse_above, self.refuse_piano_below, self.warn_below = (float(v) for v in found)  # type: ignore[arg-type]
        # a bundle may not make the device refuse most takes, nor doubt most pianos
        if not (0.5 <= self.refuse_above < 1.0 and 0.0 <= self.refuse_piano_below <= self.warn_below <= 0.5):
            raise BundleError(
                where,
                f"its sound check thresholds refuse_above {self.refuse_above} / refuse_piano_below "
                f"{self.refuse_piano_below} / warn_below {self.warn_below} are outside 0.5..1 / 0..warn_below / 0..0.5",
            )

    def probabilities(self, vector: np.ndarray) -> np.ndarray:
        """The three class probabilities of one profile, as the model gives them."""
        out = self.session.run(None, {self.input_name: vector.reshape(1, -1).astype(np.float32)})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)


def usable(p: np.ndarray) -> bool:
    """Three finite probabilities summing to 1."""
    return len(p) == 3 and bool(np.all(np.isfinite(p))) and bool(np.all(p >= -1e-6)) and abs(float(p.sum()) - 1) < 1e-3


ACCEPTED, WARNED, REFUSED = "accepted", "warned", "refused"


def decide(p: np.ndarray, refuse_above: float, refuse_piano_below: float, warn_below: float, level_warned: bool) -> str:
    """What to do with a take of class probabilities ``p``: refuse it when it sounds held, like speech or like noise
    (``p[HELD] > refuse_above``) or is less like a piano than nearly any piano (``p[PIANO] < refuse_piano_below``),
    unless it is very quiet or very noisy (then the profile is not to be trusted: it is warned about instead); warn
    when it is unlikely to be a piano. ``pianocoach_train.sound_check_model`` measures this same function."""
    if p[HELD] > refuse_above or p[PIANO] < refuse_piano_below:
        return WARNED if level_warned else REFUSED
    return WARNED if p[PIANO] < warn_below else ACCEPTED


def level_warnings(loudest_db: float, flatness: float) -> list[str]:
    """The very quiet and very noisy warnings for a take whose loudest moments reach ``loudest_db`` and whose
    spectrum has a mean flatness of ``flatness``."""
    if loudest_db < QUIET_BELOW_DB:
        return [
            f"the input is very quiet (its loudest moments at {loudest_db:.0f} dBFS): raise the input gain or move "
            "the microphone closer; soft notes may have been missed"
        ]
    if flatness > NOISY_FLATNESS:
        return [
            "the recording is very noisy (a hiss or rumble almost as loud as the playing): move the microphone "
            "closer to the piano or away from the noise"
        ]
    return []


def judge(profile: SoundProfile, notes: NoteTable | None, check: SoundCheck | None, name: str) -> SoundVerdict:
    """The verdict on a finished microphone take; raises :class:`NotAPianoError` when it is refused."""
    vector = profile.vector(notes)
    warnings = level_warnings(profile.loudness_db(), float(vector[PROFILE_NAMES.index("flatness_mean")]))
    if check is None:
        return SoundVerdict(None, warnings)
    try:
        p = check.probabilities(vector)
    except Exception as exc:  # ONNX Runtime's errors have no common base; a broken model never refuses a take
        log.warning("%s: the sound check failed (%s): the take is not checked", name, str(exc)[:200])
        return SoundVerdict(None, warnings)
    if not usable(p):  # the health check refuses such a model at install; never refuse a take on its account
        log.warning("%s: the sound check gave %s, not three probabilities: the take is not checked", name, p)
        return SoundVerdict(None, warnings)
    outcome = decide(p, check.refuse_above, check.refuse_piano_below, check.warn_below, bool(warnings))
    if outcome == REFUSED:
        heard = (
            f"it sounds held like an organ, a wind or a voice, or like speech or noise: {p[HELD]:.2f}"
            if p[HELD] > check.refuse_above
            else f"piano likelihood {p[PIANO]:.4f}"
        )
        raise NotAPianoError(f"{name}: this does not sound like a piano ({heard}); PianoCoach scores piano playing")
    if outcome == WARNED:
        warnings.append(f"this may not be a piano (piano likelihood {p[PIANO]:.2f}): the scores may mean little")
    return SoundVerdict(round(float(p[PIANO]), 4), warnings)
