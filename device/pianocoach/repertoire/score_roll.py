"""The score's notes laid on a take's time line: what the piano roll of a take draws beside the notes played.

Each bar as played (a bar played again after a restart is drawn again) places its written notes between the times
its chords were played: a note's time is read off the chords of that bar entry around it (quarter notes along the
played order against seconds), and beyond the first or last chord heard at the bar's own pace. A bar the player
broke off (a restart or a stop of the take after it) is drawn up to its last chord heard, and one entered part way
from its first; whole bars skipped are not drawn (the roll shows what was played against what was due there).
"""

from __future__ import annotations

import numpy as np

from pianocoach.repertoire.align import Alignment, PlayedBar

DEFAULT_S_PER_Q = 0.5  # a bar with a single chord heard and no tempo: 120 quarter notes a minute
MIN_LENGTH_MS = 30  # a written note drawn shorter than this would not show


def score_notes_in_take(alignment: Alignment, limit: int) -> list[list[int]]:
    """The written notes as due in the take: [onset ms, length ms, pitch] rows in time order, at most ``limit``."""
    played = alignment.played
    score = played.score
    starts_q = played.bar_starts_q
    anchors: dict[int, list[tuple[float, float]]] = {}  # bar entry -> (quarter notes along the played order, s)
    for chord, onset, _kind, entry in alignment.chord_onsets:
        if 0 <= entry < len(alignment.bars):
            anchors.setdefault(entry, []).append((float(played.chord_q[chord]), float(onset)))
    rows: list[list[int]] = []
    for entry, bar in enumerate(alignment.bars):
        known = sorted(anchors.get(entry, []))
        if len(rows) >= limit:  # the bars as played are in time order: the rest would be cut anyway
            break
        if not known:
            continue
        written = played.bar_order[bar.position]
        start_q = float(starts_q[bar.position])
        length_q = float(score.bars[written].length_q)
        qs = np.array([q for q, _ in known])
        ts = np.maximum.accumulate(np.array([t for _, t in known]))
        pace = _seconds_per_quarter(qs, ts, bar)
        low = start_q if _continues(alignment.bars, entry - 1, entry) else qs[0]
        high = start_q + length_q if _continues(alignment.bars, entry, entry + 1) else qs[-1]
        notes = np.flatnonzero(score.bar == written)
        onset_q = start_q + score.onset_q[notes] - score.bars[written].start_q
        keep = (onset_q >= low - 1e-6) & (onset_q <= high + 1e-6)
        notes, onset_q = notes[keep], onset_q[keep]
        on = _time_at(onset_q, qs, ts, pace)
        off = _time_at(onset_q + score.duration_q[notes], qs, ts, pace)
        for note, t_on, t_off in zip(notes, on, off):
            on_ms = int(round(t_on * 1000))
            rows.append([on_ms, max(int(round(t_off * 1000)) - on_ms, MIN_LENGTH_MS), int(score.pitch[note])])
    rows.sort()
    return rows[:limit]


def _continues(bars: list[PlayedBar], before: int, after: int) -> bool:
    """Does bar entry ``after`` follow entry ``before`` in the score without a break (the next bar, no restart)?"""
    if before < 0 or after >= len(bars):
        return False
    return bars[after].position == bars[before].position + 1


def _seconds_per_quarter(qs: np.ndarray, ts: np.ndarray, bar: PlayedBar) -> float:
    """The bar's pace: from the chords heard in it, else its tempo, else :data:`DEFAULT_S_PER_Q`."""
    if qs[-1] - qs[0] > 1e-6 and ts[-1] > ts[0]:
        return float((ts[-1] - ts[0]) / (qs[-1] - qs[0]))
    if bar.tempo_qpm:
        return 60.0 / bar.tempo_qpm
    return DEFAULT_S_PER_Q


def _time_at(q: np.ndarray, qs: np.ndarray, ts: np.ndarray, pace: float) -> np.ndarray:
    """Seconds at quarter notes ``q``: between the chords heard, read off them; outside, at ``pace``."""
    inside = np.interp(q, qs, ts)
    before = ts[0] - (qs[0] - q) * pace
    after = ts[-1] + (q - qs[-1]) * pace
    return np.where(q < qs[0], before, np.where(q > qs[-1], after, inside))
