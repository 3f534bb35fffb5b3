"""When each heard note stops sounding: the numbers a note-end model reads (issue 19: note-with-offset F1 0.20).

basic-pitch ends notes where their sound fades below what it hears. On held-out renders (``make eval-offsets``) a note
whose key comes up without the pedal is heard about three times as long as it was held, and a note the pedal holds
ends early (0.74 of its sounding length). What tells them apart is in the take: whether the pedal was down when the
sound faded, what comes next at that pitch and at all, and how the note's own band decays. For each note of the
transcriber's table (onset, end, pitch, the transcriber's own amplitude as velocity), with the pedal model's
per-frame probabilities and the sound profile's 40 mel bands (one frame every 46 ms, the frames the pedal and velocity
models read):

- the heard length, pitch and amplitude;
- the time to the next onset at the same pitch (a key must come up before it is struck again) and to the next onset
  at all, and the heard gap after the note (``HORIZON_S`` when nothing follows);
- the pedal at the note's onset and at its heard end, and the time from the heard end until the pedal comes up;
- how many heard notes sound at its onset;
- its fundamental's band: the level at the heard end against the strike, and a few frames later against the end
  (a damped string stops; a held one keeps fading).

Every time is capped at ``HORIZON_S`` and every level is a difference, so the numbers are bounded and a
microphone's gain cancels. Vectorised (sorting and searching, no per-note Python loop).
"""

from __future__ import annotations

import numpy as np

from pianocoach.features.note_velocity import harmonic_bands, onset_frame
from pianocoach.features.notes import NoteTable
from pianocoach.features.pedal_frames import down_frames
from pianocoach.features.sound_profile import HOP, MEL_BANDS, SAMPLE_RATE

NOTE_END_VERSION = 2  # bump when a number below changes; a note-end model records the version it learned
HORIZON_S = 8.0  # times beyond this say only "long"
MIN_SECONDS = 0.01  # shortest length a note is taken to have (logs stay finite)
LONGEST_NOTE_S = 30.0  # a note-end model's ends stop here (a pedal held longer is read as this long)
FRAME_SECONDS = HOP / SAMPLE_RATE  # the sound profile's frames, which the pedal model's probabilities follow
AFTER_FRAMES = 3  # how far past the heard end the fundamental's band is read again
STRIKE_FRAMES = 3  # the onset frame and the two after it: the loudest of them is the strike
FEATURE_NAMES: tuple[str, ...] = (
    "log_heard_seconds",
    "pitch",
    "amplitude",
    "log_to_next_same_pitch",
    "log_to_next_onset",
    "gap_after_seconds",
    "pedal_at_onset",
    "pedal_at_end",
    "seconds_to_pedal_up",
    "sounding_at_onset",
    "end_level_against_strike_db",
    "level_after_end_against_end_db",
)


def _to_next_same_pitch(onset: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Seconds from each note's onset to the next onset of its pitch (infinite when none)."""
    order = np.lexsort((onset, pitch))  # by pitch, then onset
    gap = np.full(len(onset), np.inf)
    same = pitch[order][1:] == pitch[order][:-1]
    step = onset[order][1:] - onset[order][:-1]
    gap[order[:-1][same]] = step[same]
    return gap


def _next_same_pitch(onset: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Seconds from each note's onset to the next onset of its pitch (``HORIZON_S`` when none)."""
    return np.clip(_to_next_same_pitch(onset, pitch), MIN_SECONDS, HORIZON_S)


def _next_onset(onset: np.ndarray) -> np.ndarray:
    """Seconds from each onset to the next later onset (30 ms later at least: a chord's own notes do not count)."""
    ordered = np.sort(onset)
    at = np.searchsorted(ordered, onset + 0.03, side="left")
    later = ordered[np.minimum(at, len(ordered) - 1)]
    return np.clip(np.where(at < len(ordered), later - onset, HORIZON_S), MIN_SECONDS, HORIZON_S)


def _sounding_at(onset: np.ndarray, end: np.ndarray) -> np.ndarray:
    """How many notes sound at each onset (started at or before it, not yet ended), its own included."""
    started = np.searchsorted(np.sort(onset), onset, side="right")
    ended = np.searchsorted(np.sort(end), onset, side="right")
    return (started - ended).astype(np.float64)


def _to_pedal_up(frames: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Seconds from each frame index until the first frame at or after it with the pedal up (``HORIZON_S`` if none)."""
    up = np.flatnonzero(~down)
    if not len(up):  # down through the whole take
        return np.full(len(frames), HORIZON_S)
    at = np.searchsorted(up, frames, side="left")
    seconds = np.where(at < len(up), (up[np.minimum(at, len(up) - 1)] - frames) * FRAME_SECONDS, HORIZON_S)
    return np.clip(seconds, 0.0, HORIZON_S)


def note_end_features(table: NoteTable, pedal: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """[len(table), len(FEATURE_NAMES)] float32. ``pedal``: the pedal model's probability per frame; ``bands``: the
    sound profile's frames [MEL_BANDS, frames] in dB (``FRAME_SECONDS`` apart), the same frames. Notes past the last
    frame read the last frame there is; with no frames at all there is nothing to read (NaN rows)."""
    if bands.ndim != 2 or bands.shape[0] != MEL_BANDS:
        raise ValueError(f"expected {MEL_BANDS} bands a frame, got an array of shape {bands.shape}")
    n = len(table)
    frames = min(len(pedal), bands.shape[1])
    if not frames:
        return np.full((n, len(FEATURE_NAMES)), np.nan, dtype=np.float32)
    onset = table.onset.astype(np.float64)
    end = np.maximum(table.offset.astype(np.float64), onset + MIN_SECONDS)
    heard = end - onset
    next_onset = _next_onset(onset)
    probabilities = np.asarray(pedal[:frames], dtype=np.float64)
    last = frames - 1
    first = np.clip(onset_frame(onset), 0, last)
    stop = np.clip(onset_frame(end), 0, last)
    fundamental = harmonic_bands(table.pitch)[:, 0]
    levels = np.asarray(bands[:, :frames], dtype=np.float32).T  # [frames, MEL_BANDS]
    strike = levels[np.minimum(first[:, None] + np.arange(STRIKE_FRAMES), last), fundamental[:, None]].max(axis=1)
    at_end = levels[stop, fundamental]
    after = levels[np.minimum(stop + AFTER_FRAMES, last), fundamental]
    out = np.column_stack(
        [
            np.log(np.clip(heard, MIN_SECONDS, HORIZON_S)),
            table.pitch.astype(np.float64),
            table.velocity.astype(np.float64),
            np.log(_next_same_pitch(onset, table.pitch)),
            np.log(next_onset),
            np.where(next_onset < HORIZON_S, np.clip(onset + next_onset - end, -HORIZON_S, HORIZON_S), HORIZON_S),
            probabilities[first],
            probabilities[stop],
            _to_pedal_up(stop, down_frames(probabilities)),  # down as the pedal tracker says (short runs merged)
            _sounding_at(onset, end),
            at_end - strike,
            after - at_end,
        ]
    )
    return out.astype(np.float32)


def sounding_ends(table: NoteTable, log_ratio: np.ndarray) -> np.ndarray:
    """The notes' ends from a note-end model's output (the log of sounding over heard length), each at the latest where
    its pitch is struck again (a MIDI file cannot hold one key twice: a player would end the new note there)."""
    onset = table.onset.astype(np.float64)
    heard = np.maximum(table.offset - onset, MIN_SECONDS)
    ratio = np.exp(np.clip(np.asarray(log_ratio, dtype=np.float64), -6.0, 6.0))
    length = np.minimum(heard * ratio, _to_next_same_pitch(onset, table.pitch))
    return onset + np.clip(length, MIN_SECONDS, LONGEST_NOTE_S)
