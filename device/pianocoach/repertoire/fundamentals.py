"""The fundamentals a teacher hears first: right and wrong notes, stops, restarts, skipped bars, tempo against the
marking and its steadiness, hand balance and dynamics against the markings; per bar as played and for the take.

With a score they come from the alignment (:mod:`pianocoach.repertoire.align`). Without one (free play) only what
the notes alone show: stops, restarts (a stop followed by a replay of what was just played) and tempo steadiness.

:func:`fundamentals_factor` turns them into the first layer of the mark (a factor 0-1, see the README's "The
mark"): wrong notes, stops and a tempo far below the marking cost steeply, whatever the expression.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np

from pianocoach.repertoire.align import NEXT, SKIP, STRUCTURAL, Alignment, NoteError
from pianocoach.repertoire.identify import CHORD_S, top_voice
from pianocoach.repertoire.unfold import PlayedScore
from pianocoach.repertoire.variants import ScoreVariants

STOP_RATIO = 2.0  # an inter-onset gap this many times what the score asks at the local tempo ...
STOP_EXTRA_S = 0.6  # ... and at least this much longer is a stop (a hesitation below LONG_STOP_S)
LONG_STOP_S = 2.0
LOCAL_SPAN = 8  # neighbouring chord steps on each side that set the local tempo
FREE_STOP_RATIO = 3.0  # free play: a gap this many times the median inter-onset interval ...
FREE_STOP_EXTRA_S = 0.8  # ... and this much longer
REPLAY_N = 4  # free play: a stop followed by these many top-voice pitch classes heard just before is a restart
REPLAY_LOOKBACK_S = 20.0
DRAG_PCT = -15.0  # the last third of the take this much slower than the first third: dragging
RUSH_PCT = 15.0
DYNAMIC_LEVELS = {"ppp": 1, "pp": 2, "p": 3, "mp": 4, "mf": 5, "f": 6, "ff": 7, "fff": 8, "sf": 6, "sfz": 6, "fz": 6}


@dataclass
class Fundamentals:
    mode: str  # "score" or "free"
    notes: dict | None  # score: {"score_notes", "correct", "wrong", "missed", "extra", "accuracy_pct",
    #                     "as_commonly_played"}
    stops: list[dict]  # {"time_s", "seconds", "bar"}
    restarts: list[dict]  # {"time_s", "from_bar", "to_bar"}
    skipped_bars: list[str]
    tempo: dict  # {"played_qpm", "marked_qpm", "ratio_to_marking", "steadiness_pct", "change_pct", "trend"}
    hands: dict | None = None  # {"right_velocity", "left_velocity", "right_minus_left_db"}
    dynamics: dict | None = None  # {"regions", "agreement"}
    factor: float = 1.0  # the first layer of the mark, 0-1
    bars: list[dict] = field(default_factory=list)  # per bar as played (score mode)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("bars")
        return out


class Step(NamedTuple):
    """One in-sequence step from a chord to a later one."""

    entry: int  # index of the bar as played (``Alignment.bars``) the step lands in
    time_s: float  # when the later chord was played
    seconds: float  # the gap played
    quarters: float  # the gap written
    asked_s: float  # the gap the score asks at the local tempo
    kind: int  # NEXT, SKIP or STRUCTURAL
    chord: int = -1  # the later chord (of the played score)
    before: int = -1  # the earlier chord

    @property
    def is_stop(self) -> bool:
        return self.seconds > STOP_RATIO * self.asked_s and self.seconds - self.asked_s >= STOP_EXTRA_S


def score_fundamentals(
    alignment: Alignment,
    velocities: np.ndarray | None,
    marked_qpm: float | None,
    variants: ScoreVariants | None = None,
) -> Fundamentals:
    """``velocities``: the played notes' velocities where they can be trusted (MIDI), else None (no hand balance
    or dynamics); ``marked_qpm``: the score's tempo marking at the start, None when it has none; ``variants``: how
    skilled pianists commonly play the score otherwise (those errors and pauses are not the player's mistakes)."""
    steps = chord_steps(alignment)
    pauses = variants.pauses if variants is not None else frozenset()
    alignment, common = without_common(alignment, variants) if variants is not None else (alignment, 0)
    bars = alignment.bars
    stops = [
        {
            "time_s": round(s.time_s - s.seconds, 3),
            "seconds": round(s.seconds - s.asked_s, 2),
            "bar": bars[s.entry].number,  # the bar the player went on with
            "entry": s.entry,
        }
        for s in steps
        if s.is_stop and s.chord not in pauses and not _held_by_fermata(alignment.played, s)
    ]
    counts = {kind: alignment.count(kind) for kind in ("wrong", "missed", "extra")}
    correct = alignment.correct
    total = correct + sum(counts.values())
    notes = {
        "score_notes": correct + counts["wrong"] + counts["missed"],
        "correct": correct,
        **counts,
        "accuracy_pct": round(100.0 * correct / total, 1) if total else 0.0,
        "as_commonly_played": common,  # errors left out: skilled pianists commonly play the score so
    }
    restarts = [
        {"time_s": round(j.time_s, 3), "from_bar": j.from_bar, "to_bar": j.to_bar}
        for j in alignment.jumps
        if j.kind == "restart"
    ]
    skipped = [b for j in alignment.jumps if j.kind == "skip" for b in j.bars_skipped]
    out = Fundamentals("score", notes, stops, restarts, skipped, _score_tempo(alignment, steps, marked_qpm))
    if velocities is not None:
        out.hands = _hands(alignment, velocities)
        out.dynamics = _dynamics(alignment, velocities)
    out.bars = _bar_rows(alignment, stops)
    for stop in stops:
        del stop["entry"]
    out.factor = fundamentals_factor(out)
    return out


def _held_by_fermata(played: PlayedScore, step: Step) -> bool:
    """Does a fermata lie between the step's chords (from the earlier one on, in the score as written: repeats
    shift the unfolded positions)? Then the score asks for the pause: it is no stop."""
    fermatas = [m.at_q for m in played.score.of_kind("fermata")]
    if not fermatas or step.before < 0:
        return False
    start = float(played.score.onset_q[played.chord_notes[step.before]].min())
    end = float(played.score.onset_q[played.chord_notes[step.chord]].min())
    return any(start <= q < end for q in fermatas)


def without_common(alignment: Alignment, variants: ScoreVariants) -> tuple[Alignment, int]:
    """A copy of ``alignment`` without the errors skilled pianists commonly make, and how many were left out. The
    played notes' status is kept (the score-relative descriptors read it)."""

    def common(e: NoteError) -> bool:
        return variants.is_common(e.kind, e.chord, e.pitch)

    kept = [e for e in alignment.errors if not common(e)]
    if len(kept) == len(alignment.errors):
        return alignment, 0
    bars = [dataclasses.replace(b, errors=[e for e in b.errors if not common(e)]) for b in alignment.bars]
    return dataclasses.replace(alignment, errors=kept, bars=bars), len(alignment.errors) - len(kept)


def chord_steps(alignment: Alignment) -> list[Step]:
    """Each in-sequence step from one chord to a later one. The local tempo is the median seconds per quarter note
    of the ``LOCAL_SPAN`` steps on each side (the step itself left out, so a stop does not slow its own yardstick)."""
    played = alignment.played
    visits = alignment.chord_onsets
    raw = []  # (bar entry, time, seconds, quarters, kind)
    for before, after in zip(visits, visits[1:]):
        quarters = float(played.chord_q[after[0]] - played.chord_q[before[0]])
        if after[2] in (NEXT, SKIP, STRUCTURAL) and quarters > 0:
            raw.append((after[3], after[1], after[1] - before[1], quarters, after[2], after[0], before[0]))
    if not raw:
        return []
    per_q = np.array([r[2] / r[3] for r in raw])
    out = []
    for k, (entry, t, dt, dq, kind, chord, earlier) in enumerate(raw):
        around = np.concatenate([per_q[max(0, k - LOCAL_SPAN) : k], per_q[k + 1 : k + 1 + LOCAL_SPAN]])
        local = float(np.median(around)) if len(around) else float(per_q[k])
        out.append(Step(entry, t, dt, dq, dq * local, kind, chord, earlier))
    return out


def _score_tempo(alignment: Alignment, steps: list[Step], marked_qpm: float | None) -> dict:
    """Quarter notes a minute as played (the median step, stops left out), against the marking; per bar for
    steadiness and trend."""
    per_bar: dict[int, list[float]] = {}
    for step in steps:
        if step.kind == NEXT and step.seconds > 0 and not step.is_stop:
            per_bar.setdefault(step.entry, []).append(step.seconds / step.quarters)
    if not per_bar:
        return _tempo_dict(None, marked_qpm, [])
    played_qpm = 60.0 / float(np.median(np.concatenate([np.asarray(v) for v in per_bar.values()])))
    bar_qpm = []
    for entry in sorted(per_bar):
        qpm = 60.0 / float(np.median(per_bar[entry]))
        alignment.bars[entry].tempo_qpm = round(qpm, 1)
        bar_qpm.append(qpm)
    return _tempo_dict(played_qpm, marked_qpm, bar_qpm)


def _tempo_dict(played_qpm: float | None, marked_qpm: float | None, local_qpm: list[float]) -> dict:
    """Tempo against the marking, its steadiness (the spread of the local tempo, in %) and its trend (the last third
    against the first third, in %)."""
    steadiness = change = None
    if len(local_qpm) >= 3:
        logs = np.log(np.asarray(local_qpm))
        steadiness = round(100.0 * (float(np.exp(np.std(logs))) - 1.0), 1)
        third = max(1, len(logs) // 3)
        change = round(100.0 * (float(np.exp(np.median(logs[-third:]) - np.median(logs[:third]))) - 1.0), 1)
    trend = "steady"
    if change is not None and change <= DRAG_PCT:
        trend = "dragging"
    elif change is not None and change >= RUSH_PCT:
        trend = "rushing"
    ratio = round(played_qpm / marked_qpm, 3) if played_qpm and marked_qpm else None
    return {
        "played_qpm": round(played_qpm, 1) if played_qpm else None,
        "marked_qpm": round(marked_qpm, 1) if marked_qpm else None,
        "ratio_to_marking": ratio,
        "steadiness_pct": steadiness,
        "change_pct": change,
        "trend": trend,
    }


def _hands(alignment: Alignment, velocities: np.ndarray) -> dict | None:
    """Mean velocity of the right hand's (staff 1) and the left hand's (staff 2) correct notes."""
    played = alignment.played
    staff = played.score.staff
    by_hand: dict[int, list[float]] = {1: [], 2: []}
    for note, chord in enumerate(alignment.note_chord):
        if alignment.note_status[note] != "correct" or chord < 0:
            continue
        written = played.chord_notes[chord]
        hands = staff[written][played.chord_pitches[chord] == alignment.pitches[note]]
        if len(hands) and int(hands[0]) in by_hand:
            by_hand[int(hands[0])].append(float(velocities[note]))
    if len(by_hand[1]) < 4 or len(by_hand[2]) < 4:
        return None
    right, left = float(np.mean(by_hand[1])), float(np.mean(by_hand[2]))
    return {
        "right_velocity": round(right, 1),
        "left_velocity": round(left, 1),
        # about 40 dB over velocities 1-127 on a piano: dB = 40 log10(v1/v2)
        "right_minus_left_db": round(40.0 * float(np.log10(right / left)), 1),
    }


def _dynamics(alignment: Alignment, velocities: np.ndarray) -> dict | None:
    """Do the dynamic markings come out? Between every two marked regions of different level, does the louder
    marking get the louder playing (mean velocity of the correct notes)? The share of pairs that agree."""
    played = alignment.played
    marks = sorted(
        (m.at_q, DYNAMIC_LEVELS[m.text]) for m in played.score.of_kind("dynamic") if m.text in DYNAMIC_LEVELS
    )
    if len(marks) < 2:
        return None
    starts = np.array([m[0] for m in marks])
    region_velocity: dict[int, list[float]] = {}
    for note, chord in enumerate(alignment.note_chord):
        if alignment.note_status[note] == "correct" and chord >= 0:
            written_q = float(played.score.onset_q[played.chord_notes[chord][0]])
            region = int(np.searchsorted(starts, written_q + 1e-9, side="right")) - 1
            if region >= 0:
                region_velocity.setdefault(region, []).append(float(velocities[note]))
    means = {r: float(np.mean(v)) for r, v in region_velocity.items() if len(v) >= 3}
    pairs = agree = 0
    regions = sorted(means)
    for i, a in enumerate(regions):
        for b in regions[i + 1 :]:
            if marks[a][1] != marks[b][1]:
                pairs += 1
                agree += (marks[a][1] - marks[b][1]) * (means[a] - means[b]) > 0  # a tie does not agree
    if not pairs:
        return None
    return {"regions": len(regions), "agreement": round(agree / pairs, 2)}


def _bar_rows(alignment: Alignment, stops: list[dict]) -> list[dict]:
    """Per bar as played, in order: the score bar, its time in the take, its errors with times and pitches."""
    rows = []
    staff = alignment.played.score.staff
    for entry, bar in enumerate(alignment.bars):
        errors: dict[str, list[dict]] = {"wrong": [], "missed": [], "extra": []}
        for e in bar.errors:
            item = {"time_s": round(e.time_s, 3), "pitch": e.pitch, "staff": _staff_of(alignment, e, staff)}
            if e.kind == "wrong":
                item["expected"] = e.expected
            errors[e.kind].append(item)
        rows.append(
            {
                "bar": bar.number,
                "start_s": round(bar.start_s, 3),
                "end_s": round(bar.end_s, 3),
                "correct": bar.correct,
                "errors": errors,
                "stops": [s for s in stops if s.get("entry") == entry],
                "tempo_qpm": bar.tempo_qpm,
            }
        )
    return rows


def _staff_of(alignment: Alignment, error, staff: np.ndarray) -> int | None:
    """The staff (1: the right hand in piano music) of the written note an error is about: the written pitch of a
    wrong or missed note; for an extra note, the staff of the chord's note nearest in pitch."""
    if error.chord < 0:
        return None
    written = alignment.played.chord_notes[error.chord]
    pitches = alignment.played.score.pitch[written].astype(int)
    target = error.expected if error.kind == "wrong" else error.pitch
    return int(staff[written[int(np.argmin(np.abs(pitches - int(target))))]])


def free_fundamentals(onsets: np.ndarray, pitches: np.ndarray) -> Fundamentals:
    """Without a score: stops (a gap far beyond the median between onsets), restarts (a stop followed by a replay of
    the notes just before it) and the steadiness of the tempo (local median inter-onset intervals)."""
    order = np.lexsort((pitches, onsets))
    starts, top = top_voice(np.asarray(onsets)[order], np.asarray(pitches)[order], CHORD_S)
    times = np.asarray(onsets, dtype=np.float64)[order][starts]
    stops: list[dict] = []
    restarts: list[dict] = []
    local: list[float] = []
    if len(times) >= 3:
        gaps = np.diff(times)
        typical = float(np.median(gaps))
        for k, gap in enumerate(gaps):
            if gap > FREE_STOP_RATIO * typical and gap - typical >= FREE_STOP_EXTRA_S:
                stops.append(
                    {"time_s": round(float(times[k]), 3), "seconds": round(float(gap - typical), 2), "bar": None}
                )
                if _replays(times, top, k + 1):
                    restarts.append({"time_s": round(float(times[k + 1]), 3), "from_bar": None, "to_bar": None})
        for start in np.arange(times[0], times[-1], 4.0):  # the median gap of each 4 s stretch
            inside = gaps[(times[:-1] >= start) & (times[:-1] < start + 4.0)]
            inside = inside[inside < FREE_STOP_RATIO * typical]
            if len(inside) >= 4:
                local.append(60.0 / float(np.median(inside)))
    out = Fundamentals("free", None, stops, restarts, [], _tempo_dict(None, None, local))
    out.factor = fundamentals_factor(out)
    return out


def _replays(times: np.ndarray, top: np.ndarray, after: int) -> bool:
    """Do the ``REPLAY_N`` top-voice pitch classes from onset ``after`` on repeat ones heard in the
    ``REPLAY_LOOKBACK_S`` before it?"""
    if after + REPLAY_N > len(top):
        return False
    heard = tuple(top[after : after + REPLAY_N] % 12)
    first = int(np.searchsorted(times, times[after] - REPLAY_LOOKBACK_S))
    classes = top % 12
    return any(tuple(classes[k : k + REPLAY_N]) == heard for k in range(first, after - REPLAY_N + 1))


# -- the first layer of the mark ----------------------------------------------------------------------------
SLIPS_FORGIVEN = 0.01  # this share of notes in error costs nothing (a slip, the aligner's own doubt): beyond it,
#                        errors cost ... (0.03 until a piece's variants took the edition's differences out: with
#                        them, 0.01 keeps the mark falling at every added mistake in 95 % of the curve's takes
#                        against 90 %, README "The mark")
ACCURACY_POWER = 2.0  # ... steeply: 10 % of notes wrong keeps (1 - 0.09)^2 = 83 % of the mark, 30 % keeps 50 %
# an extra note costs this share of a wrong or missed one: on skilled takes most are ornaments, doublings and keys
# struck again that the edition does not write (2.3 per 100 notes, up to 9 at the 95th percentile; a wrong key is
# already a wrong note), and they blurred the mark's agreement with the listeners (README "The mark")
EXTRA_WEIGHT = 0.25
STOP_FACTOR = 0.92  # each stop
RESTART_FACTOR = 0.9  # each restart
SKIP_FACTOR = 0.93  # each skipped bar
MAX_COUNTED = 6  # stops (restarts, skipped bars) beyond this many cost nothing more
SLOW_FROM = 0.7  # a tempo below this share of the marking costs (above it: the player's choice) ...
SLOW_FLOOR = 0.6  # ... linearly down to this factor at half the marking and below
UNSTEADY_FROM = 15.0  # free play: local tempo spread beyond this (%) costs ...
UNSTEADY_FLOOR = 0.7  # ... down to this factor at 45 %


def fundamentals_factor(f: Fundamentals) -> float:
    """0-1: what the fundamentals leave of the mark."""
    factor = 1.0
    if f.notes is not None:
        factor *= (1.0 - max(0.0, _share_in_error(f.notes) - SLIPS_FORGIVEN)) ** ACCURACY_POWER
    factor *= STOP_FACTOR ** min(len(f.stops), MAX_COUNTED)
    factor *= RESTART_FACTOR ** min(len(f.restarts), MAX_COUNTED)
    factor *= SKIP_FACTOR ** min(len(f.skipped_bars), MAX_COUNTED)
    ratio = f.tempo.get("ratio_to_marking")
    if ratio is not None and ratio < SLOW_FROM:
        factor *= max(SLOW_FLOOR, 1.0 - (1.0 - SLOW_FLOOR) * (SLOW_FROM - ratio) / (SLOW_FROM - 0.5))
    spread = f.tempo.get("steadiness_pct")
    if f.mode == "free" and spread is not None and spread > UNSTEADY_FROM:
        factor *= max(UNSTEADY_FLOOR, 1.0 - (1.0 - UNSTEADY_FLOOR) * (spread - UNSTEADY_FROM) / 30.0)
    return round(factor, 4)


def _share_in_error(notes: dict) -> float:
    """Wrong and missed notes, and extra ones at ``EXTRA_WEIGHT``, as a share of all the notes counted."""
    counted = notes["correct"] + notes["wrong"] + notes["missed"] + notes["extra"]
    if not counted:
        return 1.0
    return (notes["wrong"] + notes["missed"] + EXTRA_WEIGHT * notes["extra"]) / counted


MARK_FLOOR = 0.0  # what a fluent, accurate take scores whatever its expression (README "The mark": 0 measured best)
EXPRESSION_WEIGHT = 1.0 - MARK_FLOOR / 100.0


def two_layer_mark(factor: float, expression_mark: float) -> float:
    """The mark (0-100): the fundamentals' factor times the expression (the 19 scales' mark, spread as the listeners'
    marks are, above a floor of ``MARK_FLOOR``). A fluent, accurate take scores its expression; mistakes scale it
    down."""
    return round(factor * (MARK_FLOOR + EXPRESSION_WEIGHT * expression_mark), 1)
