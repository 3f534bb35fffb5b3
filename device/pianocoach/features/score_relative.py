"""Score-relative descriptors: how the notes played relate to the notes written, once a take is aligned with its
score. Timing against the metrical grid, the local tempo against the marked tempo, velocity against the dynamics
marked, key-down time against the notated durations, and the sustain pedal against the harmony changes of the
score.

The alignment itself lives in :mod:`pianocoach.repertoire`; it hands this module a :class:`ScoreContext` (one row
per played note, in the take's note order), so the feature code stays independent of how a score was read or
followed. Without a score (free play) every descriptor is 0 and ``score_matched_fraction`` says so; a model trained
on both kinds of rows (the host adds a free-play copy of every training row) reads the rest accordingly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pianocoach.features.catalog import SCORE_DESCRIPTOR_NAMES
from pianocoach.features.notes import NoteTable, pedal_values_at
from pianocoach.features.settings import DEFAULT_SETTINGS, FeatureSettings

MAX_STEP_Q = 4.0  # consecutive matched chords further apart in the score than this do not measure a tempo
MAX_STEP_S = 4.0  # ... nor do chords further apart in time (a stop)
LOCAL_SPAN_Q = 1.0  # a local tempo spans at least a quarter note of the score
LOOK_AHEAD = 16  # ... within this many chords
PEDAL_LIFT_BEFORE_S = 0.1  # a pedal lift this long before a harmony change, or up to ...
PEDAL_LIFT_AFTER_S = 0.3  # ... this long after it, clears the change (legato pedalling lifts just after)
PEDAL_PRESS_AFTER_S = 0.6  # a press this long after a change catches the new harmony


@dataclass(frozen=True)
class ScoreContext:
    """Where the score puts each played note of a take; arrays in the take's note order (onset, then pitch)."""

    position_q: np.ndarray  # float64: its written chord in quarter notes along the played order; nan: not matched
    written_q: np.ndarray  # float64: the notated duration of the written note it played; nan: none (wrong, extra)
    dynamic: np.ndarray  # float64: the dynamic level marked there (p = -1, f = +1; wedges ramp); nan: none marked
    marked_qpm: np.ndarray  # float64: the tempo marked there in quarter notes a minute; nan: none marked
    harmony_change: np.ndarray  # bool: its written chord begins a new harmony

    def __len__(self) -> int:
        return len(self.position_q)

    def window(self, first: int, last: int) -> ScoreContext:
        """The rows of notes ``first``..``last - 1`` (a window of the take)."""
        return ScoreContext(
            self.position_q[first:last],
            self.written_q[first:last],
            self.dynamic[first:last],
            self.marked_qpm[first:last],
            self.harmony_change[first:last],
        )


def score_descriptors(
    table: NoteTable, context: ScoreContext | None, settings: FeatureSettings = DEFAULT_SETTINGS
) -> dict[str, float]:
    """Every score-relative descriptor (0 each in free play: ``context`` None or nothing matched)."""
    values = dict.fromkeys(SCORE_DESCRIPTOR_NAMES, 0.0)
    if context is None or len(table) == 0:
        return values
    if len(context) != len(table):
        raise ValueError(f"{table.source}: a score context of {len(context)} notes for {len(table)} notes played")
    matched = np.isfinite(context.position_q)
    values["score_matched_fraction"] = float(np.mean(matched))
    chord_q, chord_t, chord_first = _chords(context.position_q, table.onset)
    steps = _tempo_steps(chord_q, chord_t)
    if steps is not None:
        seconds_per_q = float(_weighted_median(steps[2], steps[1]))
        values.update(_tempo(chord_q, chord_t, context, chord_first, seconds_per_q))
        values["score_timing_deviation_ms"] = 1000.0 * _grid_deviation(chord_q, chord_t)
        values.update(_articulation(table, context, seconds_per_q))
    values.update(_dynamics(table, context))
    values.update(_pedal(table, context, chord_t, chord_first, settings.pedal_threshold))
    return {name: float(values[name]) for name in SCORE_DESCRIPTOR_NAMES}


def _chords(position_q: np.ndarray, onset: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The matched chords in playing order: (score position, first onset, the table row of that first note). A chord
    played twice (a restart) is two chords; notes of one chord are consecutive rows of the same position."""
    rows = np.flatnonzero(np.isfinite(position_q))
    if len(rows) == 0:
        empty = np.zeros(0)
        return empty, empty, np.zeros(0, dtype=np.int64)
    new = np.r_[True, np.diff(position_q[rows]) != 0]
    first = rows[new]
    return position_q[first], onset[first], first


def _tempo_steps(chord_q: np.ndarray, chord_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Steps forward through the score between consecutive chords: (index of the step's first chord, quarter notes,
    seconds per quarter note); None when there are none. Jumps (restarts, skips) and stops measure no tempo."""
    dq, dt = np.diff(chord_q), np.diff(chord_t)
    good = (dq > 0) & (dq <= MAX_STEP_Q) & (dt > 0) & (dt <= MAX_STEP_S)
    if not good.any():
        return None
    return np.flatnonzero(good), dq[good], dt[good] / dq[good]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _tempo(
    chord_q: np.ndarray, chord_t: np.ndarray, context: ScoreContext, chord_first: np.ndarray, seconds_per_q: float
) -> dict[str, float]:
    """The take's tempo against the marking, and how its local tempo (over at least a quarter note) moves against
    what the score writes: its spread and its trend along the score."""
    out: dict[str, float] = {}
    marked = context.marked_qpm[chord_first]
    marked = marked[np.isfinite(marked)]
    if len(marked):
        out["score_tempo_ratio"] = float(np.log2(60.0 / seconds_per_q / float(np.median(marked))))
    local, where = _local_tempi(chord_q, chord_t, context.marked_qpm[chord_first], seconds_per_q)
    if len(local) >= 3:
        q25, q75 = np.percentile(local, [25, 75])
        out["score_tempo_flex"] = float((q75 - q25) / 1.349)
        span = float(np.ptp(where))
        if span > 0:
            out["score_tempo_arc"] = float(np.polyfit((where - where[0]) / span, local, 1)[0])
    return out


def _local_tempi(
    chord_q: np.ndarray, chord_t: np.ndarray, marked_qpm: np.ndarray, seconds_per_q: float
) -> tuple[np.ndarray, np.ndarray]:
    """(log2 of each local tempo against the marking there, or against the take's tempo where none is marked; the
    score position it starts at). A local tempo runs from a chord to the first of the next ``LOOK_AHEAD`` chords a
    quarter note or more further on in the score, when the score only moves forward in between (no jump) and the
    step is neither a stop nor a leap. One numpy pass over a (chords x LOOK_AHEAD) table: a window's hundreds of
    chords cost well under a millisecond."""
    n = len(chord_q)
    if n < 2:
        return np.zeros(0), np.zeros(0)
    starts = np.arange(n - 1)
    ahead = starts[:, None] + np.arange(1, LOOK_AHEAD + 1)[None, :]
    reach = (ahead < n) & (chord_q[np.minimum(ahead, n - 1)] - chord_q[starts, None] >= LOCAL_SPAN_Q)
    found = reach.any(axis=1)
    end = starts + 1 + np.argmax(reach, axis=1)
    backward = np.concatenate([[0], np.cumsum(np.diff(chord_q) <= 0)])  # steps that do not move forward, so far
    monotone = backward[end] == backward[starts]
    dq, dt = chord_q[end] - chord_q[starts], chord_t[end] - chord_t[starts]
    keep = found & monotone & (dq > 0) & (dq <= MAX_STEP_Q) & (dt > 0) & (dt <= MAX_STEP_S)
    qpm = 60.0 * dq[keep] / dt[keep]
    reference = marked_qpm[starts[keep]]
    with np.errstate(divide="ignore", invalid="ignore"):
        local = np.where(np.isfinite(reference), np.log2(qpm / reference), np.log2(qpm * seconds_per_q / 60.0))
    return local, chord_q[starts[keep]]


def _grid_deviation(chord_q: np.ndarray, chord_t: np.ndarray) -> float:
    """Mean distance (s) of each chord from where its neighbours put it on the score's grid (linear between them)."""
    if len(chord_q) < 3:
        return 0.0
    qa, qb, qc = chord_q[:-2], chord_q[1:-1], chord_q[2:]
    ta, tb, tc = chord_t[:-2], chord_t[1:-1], chord_t[2:]
    good = (qb > qa) & (qc > qb) & (qc - qa <= MAX_STEP_Q) & (tc > ta) & (tc - ta <= MAX_STEP_S)
    if not good.any():
        return 0.0
    qa, qb, qc, ta, tb, tc = qa[good], qb[good], qc[good], ta[good], tb[good], tc[good]
    expected = ta + (qb - qa) / (qc - qa) * (tc - ta)
    return float(np.mean(np.abs(tb - expected)))


def _articulation(table: NoteTable, context: ScoreContext, seconds_per_q: float) -> dict[str, float]:
    """Key-down time against the notated duration at the take's tempo: median ratio and its spread (log2 IQR)."""
    written = np.isfinite(context.written_q) & (context.written_q > 0)
    if written.sum() < 3:
        return {}
    ratio = table.duration[written] / (context.written_q[written] * seconds_per_q)
    logs = np.log2(np.clip(ratio, 1 / 64, 64))
    q25, q75 = np.percentile(logs, [25, 75])
    return {"score_articulation_ratio": float(np.median(ratio)), "score_articulation_spread": float(q75 - q25)}


def _dynamics(table: NoteTable, context: ScoreContext) -> dict[str, float]:
    """Velocity against the marked dynamic level: the slope (velocity per level) and the correlation, where the
    window's markings change."""
    marked = np.isfinite(context.dynamic)
    if marked.sum() < 4:
        return {}
    level = context.dynamic[marked]
    velocity = table.velocity[marked].astype(np.float64)
    if np.ptp(level) < 0.25 or np.std(velocity) == 0:
        return {}
    slope = float(np.polyfit(level, velocity, 1)[0])
    return {"score_velocity_per_level": slope, "score_velocity_marking_r": float(np.corrcoef(level, velocity)[0, 1])}


def _pedal(
    table: NoteTable, context: ScoreContext, chord_t: np.ndarray, chord_first: np.ndarray, threshold: int
) -> dict[str, float]:
    """The sustain pedal at the score's harmony changes: of the changes reached with the pedal down, the share it
    clears (a lift just before or after); of all changes, the share a press catches; of all lifts, the share that
    fall at a change (the rest change the pedal within one harmony)."""
    events = table.pedal_events
    changes = chord_t[context.harmony_change[chord_first]] if len(chord_first) else np.zeros(0)
    if len(events) == 0 or len(changes) == 0:
        return {}
    values = events[:, 1]
    down = values >= threshold
    was_down = np.r_[False, down[:-1]]
    lifts = events[~down & was_down, 0]
    presses = events[down & ~was_down, 0]
    before = pedal_values_at(events, changes - PEDAL_LIFT_BEFORE_S) >= threshold
    out: dict[str, float] = {}
    if before.any():
        cleared = [_any_within(lifts, t - PEDAL_LIFT_BEFORE_S, t + PEDAL_LIFT_AFTER_S) for t in changes[before]]
        out["score_pedal_change_cleared"] = float(np.mean(cleared))
    out["score_pedal_change_pressed"] = float(
        np.mean([_any_within(presses, t - PEDAL_LIFT_BEFORE_S, t + PEDAL_PRESS_AFTER_S) for t in changes])
    )
    if len(lifts):
        near = [_any_within(changes, t - PEDAL_LIFT_AFTER_S, t + PEDAL_LIFT_BEFORE_S) for t in lifts]
        out["score_pedal_lifts_at_changes"] = float(np.mean(near))
    return out


def _any_within(times: np.ndarray, start: float, end: float) -> bool:
    first = np.searchsorted(times, start, side="left")
    return bool(first < len(times) and times[first] <= end)


def without_score(vectors: np.ndarray, settings: FeatureSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Feature vectors (rows) as free play would give them: the score-relative columns 0. The host trains on a copy
    like this of every row, so a model scores free play as well as a take whose score is known."""
    out = np.array(vectors, dtype=np.float32, copy=True)
    columns = [i for i, name in enumerate(settings.vector_names) if name in SCORE_DESCRIPTOR_NAMES]
    out[..., columns] = 0.0
    return out
