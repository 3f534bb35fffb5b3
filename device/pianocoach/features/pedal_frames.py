"""The sustain pedal heard in a microphone take: the frames the pedal model reads, run in chunks in bounded memory,
and its per-frame probabilities turned into pedal events.

With the sustain pedal down, a released key keeps sounding until the pedal comes up; the dampers then stop every
string at once. The pedal model (``make pedal-model``, role ``pedal`` in a bundle) reads the 40 mel bands (dB) of the
sound profile's frames (:class:`~pianocoach.features.sound_profile.SoundProfile`, one every 46 ms, so the frames are
computed once for both) and gives, for every frame, the probability that the pedal is down. It normalises the bands
itself (against the loudest band within about 1.5 s), so a microphone's gain changes nothing.

:class:`PedalTracker` runs the model on chunks of ``CHUNK_FRAMES`` frames with ``CONTEXT_FRAMES`` on each side; the
model sees no further than ``CONTEXT_FRAMES`` (the bundle states its reach and the device refuses a model that sees
further), so the probabilities are those of one run over the whole take, whatever the take's length, and only
``CHUNK_FRAMES + 2 x CONTEXT_FRAMES`` frames of bands are ever held. Part-way pedalling is not estimated: the model
says down or up.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pianocoach.features.sound_profile import HOP, MEL_BANDS, N_FFT, SAMPLE_RATE

PEDAL_FRAMES_VERSION = 1  # bump when the frames the model reads change; a bundle's pedal model records it
# bump when the events made of the probabilities change (DOWN_AT, MIN_RUN_FRAMES, down_frames, pedal_events): a
# transcription scorer that learned from the heard pedal records the version it learned
PEDAL_EVENTS_VERSION = 1
FRAME_S = HOP / SAMPLE_RATE  # 46 ms between frames
CONTEXT_FRAMES = 64  # the most frames a pedal model may look to either side (about 3 s)
CHUNK_FRAMES = 256  # frames whose probabilities one model run gives (about 12 s)
DOWN_AT = 0.5  # probability above which a frame counts as pedal down
MIN_RUN_FRAMES = 2  # a down or up stretch shorter than this (93 ms) is taken as the one around it
DOWN_VALUE, UP_VALUE = 127, 0  # the CC64 values written for the estimated pedal

PedalRunner = Callable[[np.ndarray], np.ndarray]  # bands [1, MEL_BANDS, T] dB -> probabilities [T]


def frame_times(count: int, first: int = 0) -> np.ndarray:
    """The centre (seconds from the take's first sample) of frames ``first .. first + count``."""
    return ((np.arange(first, first + count) * HOP) + N_FFT / 2) / SAMPLE_RATE


class PedalTracker:
    """:meth:`add` the sound profile's bands as they come, then :meth:`finish` for every frame's probability."""

    def __init__(self, run: PedalRunner) -> None:
        self.run = run
        self._held = np.zeros((MEL_BANDS, 0), dtype=np.float32)  # bands from absolute frame ``_held_from`` on
        self._held_from = 0
        self._done = 0  # frames whose probability is known
        self._probabilities: list[np.ndarray] = []
        self.finished = False

    @property
    def frames(self) -> int:
        return self._held_from + self._held.shape[1]

    def add(self, bands: np.ndarray) -> None:
        """``bands``: the next frames [MEL_BANDS, n] in dB."""
        if self.finished:
            raise RuntimeError("the pedal tracker has finished")
        self._held = np.concatenate([self._held, np.asarray(bands, dtype=np.float32)], axis=1)
        while self.frames - self._done >= CHUNK_FRAMES + CONTEXT_FRAMES:
            self._step(self._done + CHUNK_FRAMES)

    def _step(self, stop: int) -> None:
        """Probabilities of frames ``_done .. stop`` from a run with up to ``CONTEXT_FRAMES`` on each side."""
        first = max(0, self._done - CONTEXT_FRAMES)
        last = min(self.frames, stop + CONTEXT_FRAMES)
        window = self._held[:, first - self._held_from : last - self._held_from]
        p = np.asarray(self.run(window[None]), dtype=np.float32).reshape(-1)
        if len(p) != window.shape[1]:
            raise ValueError(f"the pedal model gave {len(p)} probabilities for {window.shape[1]} frames")
        self._probabilities.append(p[self._done - first : stop - first])
        self._done = stop
        keep_from = max(0, self._done - CONTEXT_FRAMES)
        self._held = self._held[:, keep_from - self._held_from :]
        self._held_from = keep_from

    @property
    def ran(self) -> int:
        """Frames whose probability is known."""
        return self._done

    def known(self) -> np.ndarray:
        """The probabilities of the frames run so far (those of :meth:`finish` for the same frames)."""
        return np.concatenate(self._probabilities) if self._probabilities else np.zeros(0, dtype=np.float32)

    def finish(self) -> np.ndarray:
        """The probability that the pedal is down in every frame of the take."""
        if not self.finished:
            if self.frames > self._done:
                self._step(self.frames)
            self.finished = True
            self._held = np.zeros((MEL_BANDS, 0), dtype=np.float32)
        if not self._probabilities:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._probabilities)


def down_frames(probabilities: np.ndarray) -> np.ndarray:
    """Down (True) or up per frame: above ``DOWN_AT``, with stretches shorter than ``MIN_RUN_FRAMES`` merged into
    the ones around them."""
    down = np.asarray(probabilities) > DOWN_AT
    if len(down) < 3:
        return down
    change = np.flatnonzero(np.diff(down.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [len(down)]])
    for start, stop in zip(bounds[1:-2], bounds[2:-1]):  # inner stretches only: the ends have nothing around them
        if stop - start < MIN_RUN_FRAMES:
            down[start:stop] = down[start - 1]
    return down


def pedal_events(probabilities: np.ndarray) -> np.ndarray:
    """CC64 events (time s, value) for the estimated pedal: one at each change, the first at the first frame."""
    down = down_frames(probabilities)
    if not len(down):
        return np.zeros((0, 2))
    times = frame_times(len(down))
    changes = np.concatenate([[0], np.flatnonzero(np.diff(down.astype(np.int8))) + 1])
    values = np.where(down[changes], DOWN_VALUE, UP_VALUE)
    return np.column_stack([times[changes], values]).astype(np.float64)


def settled_events(probabilities: np.ndarray) -> tuple[np.ndarray, float]:
    """The pedal events of the first frames' probabilities, and the time before which they are those of the whole take:
    only the last stretch can still change (a stretch shorter than ``MIN_RUN_FRAMES`` is merged once it ends), and a
    stretch of ``MIN_RUN_FRAMES`` or more stays, so every frame but the last ``MIN_RUN_FRAMES`` is final."""
    final = len(probabilities) - MIN_RUN_FRAMES
    if final <= 0:
        return np.zeros((0, 2)), 0.0
    return pedal_events(probabilities), float(frame_times(1, final)[0])


def confidence(probabilities: np.ndarray) -> float:
    """How sure the model is over the take: the mean of max(p, 1 - p), 0.5 (a guess) to 1 (certain)."""
    p = np.asarray(probabilities, dtype=np.float64)
    return float(np.maximum(p, 1 - p).mean()) if len(p) else 0.5
