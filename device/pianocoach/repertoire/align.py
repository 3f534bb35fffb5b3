"""Score following: each played note matched to a note of the score or marked extra, each score note matched or
missed, in a stream.

The model is a hidden Markov chain over the chords of the score in played order (:class:`PlayedScore`: repeats
unfolded), decoded note by note with Viterbi (costs are negative log-probabilities, in the spirit of Nakamura et
al.'s HMM aligners for performances with errors). For each played note the chain may

- stay in the chord (a chord's notes, or one struck again after ``RESTRIKE_GAP_S``: ``restrike``),
- move to the next chord (free; ``split`` when the note came with the previous one, as a chord's notes do),
- skip chords (``miss`` per skipped score note: missed notes),
- jump anywhere, back or forward (``jump``: a restart, a skipped passage, a repeat not in the score),
- take a structural skip (``structural``: a repeat not taken).

A note whose pitch the chord holds costs nothing; another pitch costs ``wrong`` (a wrong or extra note); a pitch of
the previous chord costs ``late`` (a chord's note played after the next one began). The jump and the skip are the
minima of prefix sums, so a step costs O(chords) numpy work and no Python loop over the score.

Streaming: the decoder keeps the back-pointers of the last ``LAG`` notes; an older note is committed to the state
the best path holds for it now (fixed-lag smoothing), so memory does not grow with the take. :meth:`position`
is where the player is now (for the listening screen).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from pianocoach.repertoire.identify import OVERTONES
from pianocoach.repertoire.unfold import PlayedScore

LAG = 256  # notes kept undecided; paths of HMM aligners merge within tens of notes
RESTRIKE_GAP_S = 0.15  # a note this long after the previous one, in the same chord, strikes the chord again
CHORD_GAP_S = 0.05  # notes closer than this were struck together
LATE_GAP_S = 0.1  # a note of the previous chord comes at most this soon after the note before it
PAUSE_S = 0.3  # a jump after a pause this long is a restart the player meant: it costs ``jump_after_pause``
TIMING_SLACK_S = 0.05  # timing ratios are of (seconds + this): a few ms either way mean nothing
TEMPO_STEPS = 16
TEMPO_MIN_STEPS = 4
TEMPO_MAX_STEP_Q = 4.0
WRONG_PAIR_S = 0.15  # a missed and an extra note this close in time, ...
WRONG_PAIR_SEMITONES = 4  # ... and pitch, are one wrong note


@dataclass(frozen=True)
class AlignCosts:
    wrong: float = 2.0
    late: float = 0.6
    miss: float = 1.0
    jump: float = 6.0
    jump_after_pause: float = 3.5
    structural: float = 0.5
    restrike: float = 1.0  # (not in a chord with ornaments: a trill or tremolo strikes again and again)
    ornament: float = 0.3  # a note of the chord's ornaments (grace note, trill, tremolo stroke)
    overtone: float = 0.5  # transcribed audio: an overtone of the chord (or the one before) heard as a note
    split: float = 0.3
    start: float = 3.0  # beginning anywhere but the first chord (a take that starts mid-piece)
    # moving to the next chord sooner or later than the score asks at the player's tempo: per unit of the log of
    # the ratio (later is gentler: stops and rubato are common), at most ``timing_cap``
    early: float = 1.5
    later: float = 0.5
    timing_cap: float = 1.0


# how the chain reached a note's chord from the previous note's
STAY, NEXT, SKIP, JUMP, STRUCTURAL, START = range(6)
STEP_NAMES = ("stay", "next", "skip", "jump", "structural", "start")


class ScoreFollower:
    """Feed played notes in onset order; :meth:`path` gives each note's chord."""

    def __init__(
        self, played: PlayedScore, costs: AlignCosts = AlignCosts(), lag: int = LAG, transcribed: bool = False
    ) -> None:
        self.played = played
        self.costs = costs
        self.lag = lag
        self.transcribed = transcribed
        chords = len(played)
        if chords == 0:
            raise ValueError("a score without notes cannot be followed")
        self.member = np.zeros((chords, 128), dtype=bool)
        self.ornament = np.zeros((chords, 128), dtype=bool)
        for chord, pitches in enumerate(played.chord_pitches):
            self.member[chord, np.clip(pitches, 0, 127)] = True
            self.ornament[chord, np.clip(played.chord_ornaments[chord], 0, 127)] = True
        self.overtone = overtone_matrix(played) if transcribed else np.zeros((chords, 128), dtype=bool)
        ornamented = np.array([len(o) > 0 for o in played.chord_ornaments])
        # a transcriber hears a held key again now and then: striking a chord again costs little in a transcription
        restrike = costs.restrike * (TRANSCRIBED_RESTRIKE if transcribed else 1.0)
        self.restrike = np.where(ornamented, 0.0, restrike)
        sizes = played.chord_sizes
        self.notes_before = np.concatenate([[0], np.cumsum(sizes)]).astype(np.float64)  # score notes in chords < k
        self.skip_sources = np.array([a for a, _ in played.chord_skips], dtype=np.int64)
        self.skip_targets = np.array([b for _, b in played.chord_skips], dtype=np.int64)
        self.index = np.arange(chords)
        self.step_q = np.maximum(np.diff(played.chord_q, prepend=played.chord_q[0]), 1e-3)  # into chord j from j-1
        self.entered = np.zeros(chords)  # when the best path into each chord entered it
        self.tempo = TempoTracker(played.chord_q)
        self.cost: np.ndarray | None = None
        self.last_onset = -np.inf
        self.pending: deque[tuple[np.ndarray, np.ndarray]] = deque()  # (source, late) per undecided note
        self.committed: list[tuple[int, bool]] = []  # (state, late) per decided note
        self.notes = 0
        self._said: int | None = None  # the position said last

    def feed(self, onset: float, pitch: int) -> None:
        pitch = int(np.clip(pitch, 0, 127))
        gap = onset - self.last_onset
        self.last_onset = onset
        member = self.member[:, pitch]
        c = self.costs
        emit = np.where(self.overtone[:, pitch], c.overtone, c.wrong)
        emit = np.where(member, 0.0, np.where(self.ornament[:, pitch], c.ornament, emit))
        late = np.zeros(len(member), dtype=bool)
        if gap <= LATE_GAP_S:
            late[1:] = member[:-1] & ~member[1:]
        late &= self.costs.late < emit
        emit[late] = self.costs.late
        if self.cost is None:
            start = np.full(len(member), self.costs.start)
            start[0] = 0.0
            self.cost = start + emit
            self.entered[:] = onset
            self.pending.append((np.full(len(member), -1, dtype=np.int32), late))
        else:
            new, source = self._transition(gap, onset)
            self.cost = new + emit
            self.cost -= self.cost.min()  # keeps the numbers small over a long take
            self.entered = np.where(source == self.index, self.entered[source], onset)
            self.pending.append((source, late))
        self.tempo.saw(onset, int(np.argmin(self.cost)))
        self.notes += 1
        if len(self.pending) > self.lag:
            self._commit_oldest()

    def _transition(self, gap: float, onset: float) -> tuple[np.ndarray, np.ndarray]:
        """The cheapest way into each chord and where it came from."""
        c, previous = self.costs, self.cost
        assert previous is not None
        chords = len(previous)
        best = previous + (self.restrike if gap > RESTRIKE_GAP_S else 0.0)  # stay
        source = self.index.astype(np.int32)
        step = previous[:-1] + (c.split if gap < CHORD_GAP_S else 0.0) + self._timing(onset)  # next
        better = np.flatnonzero(step < best[1:]) + 1
        best[better], source[better] = step[better - 1], better - 1
        if chords > 2:  # skip chords i+1..j-1: previous[i] + miss * (their notes)
            base = previous - c.miss * self.notes_before[1 : chords + 1]
            prefix = np.minimum.accumulate(base)
            arg = np.maximum.accumulate(np.where(base <= prefix, self.index, 0))
            skip = prefix[:-2] + c.miss * self.notes_before[2:chords]
            better = np.flatnonzero(skip < best[2:]) + 2
            best[better], source[better] = skip[better - 2], arg[better - 2]
        anywhere = int(np.argmin(previous))
        jump = previous[anywhere] + (c.jump_after_pause if gap >= PAUSE_S else c.jump)
        better = np.flatnonzero(jump < best)
        best[better], source[better] = jump, anywhere
        if len(self.skip_targets):
            structural = previous[self.skip_sources] + c.structural
            for target, value, origin in zip(self.skip_targets, structural, self.skip_sources):
                if value < best[target]:
                    best[target], source[target] = value, origin
        return best, source

    def _timing(self, onset: float) -> np.ndarray | float:
        """The cost of moving into chord j (j >= 1) from chord j - 1 now: the time since j - 1 was entered against
        what the score asks at the player's tempo so far (until the tempo is known, only a move with no time
        passed costs)."""
        per_q = self.tempo.seconds_per_quarter()
        played = onset - self.entered[:-1]
        if per_q is None:  # at any tempo, a chord written later is not played with the one before it
            return np.where(played < CHORD_GAP_S, self.costs.timing_cap, 0.0)
        asked = self.step_q[1:] * per_q
        ratio = np.log((played + TIMING_SLACK_S) / (asked + TIMING_SLACK_S))
        c = self.costs
        return np.minimum(c.timing_cap, np.where(ratio < 0, -c.early * ratio, c.later * ratio))

    def _backtrack(self) -> list[tuple[int, bool]]:
        """(state, late) of each undecided note along the best path now, oldest first."""
        assert self.cost is not None
        state = int(np.argmin(self.cost))
        out = []
        for source, late in reversed(self.pending):
            out.append((state, bool(late[state])))
            state = int(source[state])
        out.reverse()
        return out

    def _commit_oldest(self) -> None:
        self.committed.append(self._backtrack()[0])
        self.pending.popleft()

    def position(self) -> int | None:
        """The chord the player is at now (None before the first note). Where places cost about the same (a
        piece that comes back to its opening), the one nearest after the place said last."""
        if self.cost is None:
            return None
        near_best = np.flatnonzero(self.cost <= self.cost.min() + POSITION_TIE)
        last = self._said if self._said is not None else 0
        ahead = near_best[near_best >= last]
        self._said = int(ahead[0] if len(ahead) else near_best[-1])
        return self._said

    def path(self) -> list[tuple[int, bool]]:
        """(state, late) of every note fed, oldest first: the committed ones and the best path of the rest."""
        return self.committed + (self._backtrack() if self.pending else [])


TRANSCRIBED_RESTRIKE = 0.3
POSITION_TIE = 0.5  # places whose costs differ by less are equally likely


def overtone_matrix(played: PlayedScore) -> np.ndarray:
    """(chords, 128) bool: the pitches a transcription may add at each chord: overtones of its keys and of the
    previous chord's (still sounding), where the score does not write them."""
    chords = len(played)
    out = np.zeros((chords, 128), dtype=bool)
    for chord, pitches in enumerate(played.chord_pitches):
        sounding = np.concatenate([pitches, played.chord_pitches[chord - 1] if chord else pitches])
        above = (sounding[:, None] + np.array(OVERTONES)[None, :]).ravel()
        out[chord, above[(above >= 0) & (above < 128)]] = True
    return out


class TempoTracker:
    """The player's tempo so far, from where the best path stood at each note: the median seconds per quarter
    note over the last ``TEMPO_STEPS`` forward steps of at most ``TEMPO_MAX_STEP_Q`` quarters."""

    def __init__(self, chord_q: np.ndarray) -> None:
        self.chord_q = chord_q
        self.where: tuple[float, int] | None = None  # (time, chord) where the best path last moved on
        self.ratios: deque[float] = deque(maxlen=TEMPO_STEPS)

    def saw(self, onset: float, chord: int) -> None:
        if self.where is None:
            self.where = (onset, chord)
            return
        then, before = self.where
        if chord == before:
            return
        quarters = float(self.chord_q[chord] - self.chord_q[before])
        if 0 < quarters <= TEMPO_MAX_STEP_Q and onset > then:
            self.ratios.append((onset - then) / quarters)
        self.where = (onset, chord)

    def seconds_per_quarter(self) -> float | None:
        if len(self.ratios) < TEMPO_MIN_STEPS:
            return None
        return float(np.clip(np.median(self.ratios), 0.05, 4.0))


@dataclass
class NoteError:
    kind: str  # "wrong", "missed" or "extra"
    time_s: float  # when it was played (missed: when the chord was due, i.e. the next played note)
    pitch: int  # played (wrong, extra) or written (missed)
    expected: int | None = None  # wrong: the written pitch
    chord: int = -1
    note: int = -1  # the played note (wrong, extra)


@dataclass
class PlayedBar:
    """One bar as played (a bar played twice after a restart is two entries)."""

    position: int  # in PlayedScore.bar_order
    number: str
    start_s: float
    end_s: float
    correct: int = 0
    errors: list[NoteError] = field(default_factory=list)
    tempo_qpm: float | None = None  # quarter notes a minute in this bar (set by the fundamentals)


@dataclass
class Jump:
    kind: str  # "restart" (back), "skip" (forward over whole bars)
    time_s: float
    from_bar: str
    to_bar: str
    bars_skipped: list[str] = field(default_factory=list)


@dataclass
class Alignment:
    played: PlayedScore
    onsets: np.ndarray  # the played notes, in the order aligned
    pitches: np.ndarray
    note_chord: np.ndarray  # int64: each played note's chord (-1: none)
    note_status: list[str]  # "correct", "wrong", "extra", "ornament" or "overtone" per played note
    errors: list[NoteError]
    bars: list[PlayedBar]
    jumps: list[Jump]
    chord_onsets: list[tuple[int, float, int, int]]  # (chord, first onset, step kind, index in ``bars``) per visit

    def count(self, kind: str) -> int:
        return sum(1 for e in self.errors if e.kind == kind)

    @property
    def correct(self) -> int:
        return self.note_status.count("correct")


def align(
    played: PlayedScore,
    onsets: np.ndarray,
    pitches: np.ndarray,
    costs: AlignCosts = AlignCosts(),
    transcribed: bool = False,
) -> Alignment:
    """Align a whole take (onsets sorted) with the score. ``transcribed``: the notes are a transcription of
    audio, whose overtones of the keys struck are neither right nor wrong (:data:`OVERTONES`; a key played an
    octave off is not told apart from them)."""
    follower = ScoreFollower(played, costs, transcribed=transcribed)
    for onset, pitch in zip(onsets, pitches):
        follower.feed(float(onset), int(pitch))
    return read_path(follower, np.asarray(onsets, dtype=np.float64), np.asarray(pitches))


def step_kind(played: PlayedScore, before: int, after: int, notes_before: np.ndarray, costs: AlignCosts) -> int:
    if after == before:
        return STAY
    if after == before + 1:
        return NEXT
    if (before, after) in played.chord_skips:
        return STRUCTURAL
    if after > before and costs.miss * (notes_before[after] - notes_before[before + 1]) <= costs.jump:
        return SKIP
    return JUMP


def read_path(follower: ScoreFollower, onsets: np.ndarray, pitches: np.ndarray) -> Alignment:
    """Turn the follower's decoded path (of the notes ``onsets``, ``pitches`` fed to it) into matches, errors,
    bars as played and jumps."""
    played, path, costs = follower.played, follower.path(), follower.costs
    notes_before = np.concatenate([[0], np.cumsum(played.chord_sizes)]).astype(np.float64)
    note_chord = np.full(len(path), -1, dtype=np.int64)
    groups: dict[tuple[int, int], list[int]] = {}  # (visit, chord) -> played notes
    due: dict[tuple[int, int], float] = {}  # (visit, chord) -> when the chord was played (or passed)
    visit, previous = 0, None
    bars: list[PlayedBar] = []
    group_bar: dict[tuple[int, int], int] = {}
    jumps: list[Jump] = []
    chord_onsets: list[tuple[int, float, int, int]] = []
    # (chord, time, bar entry, the visits before and after) of chords passed over
    skipped_chords: list[tuple[int, float, int, tuple[int, int], tuple[int, int]]] = []
    entered = float(onsets[0]) if len(onsets) else 0.0  # when the chain entered the chord it is in
    for note, (state, late) in enumerate(path):
        chord = state - 1 if late and state > 0 else state
        kind = START if previous is None else step_kind(played, previous, state, notes_before, costs)
        t = float(onsets[note])
        again = (
            kind == STAY
            and not late
            and not follower.transcribed
            and _strikes_again(played, chord, groups.get((visit, chord)), note, pitches, onsets)
        )
        if again and _skipped_chord_struck_wrong(played, (visit, chord), groups, skipped_chords, pitches):
            again = False  # not the chord twice: the chord before it with a wrong key, then this one
            groups = _rehome((visit, chord), t, groups, due, group_bar, skipped_chords, chord_onsets)
            note_chord[groups[(visit, chord - 1)]] = chord - 1
        restart = again or (kind == JUMP and previous is not None and state < previous)
        if restart:
            visit += 1
            came_from = previous if previous is not None else state
            jumps.append(Jump("restart", t, _bar(played, came_from), _bar(played, state)))
        position = int(played.chord_bar[state])
        if not bars or bars[-1].position != position or restart:
            bars.append(PlayedBar(position, played.bar_number(position), t, t))
        bars[-1].end_s = t
        if previous is not None and kind in (SKIP, JUMP) and state > previous:
            whole = _whole_bars(played, previous, state)
            if whole:
                names = [played.bar_number(p) for p in whole]
                jumps.append(Jump("skip", t, _bar(played, previous), _bar(played, state), names))
            for passed in range(previous + 1, state):
                if int(played.chord_bar[passed]) not in whole:
                    when = _due(played, previous, passed, state, entered, t)
                    skipped_chords.append((passed, when, len(bars) - 1, (visit, previous), (visit, state)))
        if late and (visit, state) not in groups:  # the chain is at ``state`` though its notes are not heard
            groups[(visit, state)], due[(visit, state)], group_bar[(visit, state)] = [], t, len(bars) - 1
        key = (visit, chord)
        if key not in groups:
            groups[key], due[key] = [], t
            group_bar[key] = len(bars) - 1
            if not late:
                chord_onsets.append((chord, t, kind, len(bars) - 1))
        groups[key].append(note)
        note_chord[note] = chord
        if state != previous:
            entered = t
        previous = state
    status = ["extra"] * len(path)
    errors: list[NoteError] = []
    expected = _expected_times(played, groups, onsets)
    for key, members in groups.items():
        chord = key[1]
        bar = bars[group_bar[key]]
        members = _nearest_first(members, pitches, onsets, expected[key])
        ornaments = set(played.chord_ornaments[chord].tolist())
        # a visit none of whose notes was heard (the path moved on to it on a late note of the chord before) was due
        # between the visits around it, not when the path moved
        when = expected[key] if not members and not np.isnan(expected[key]) else due[key]
        correct, wrong, found = _match_chord(
            played.chord_pitches[chord], ornaments, members, pitches, onsets, chord, when
        )
        for note in correct:
            status[note] = "correct"
        for note in wrong:
            status[note] = "wrong"
        for error in [e for e in found if e.kind == "extra" and e.pitch in ornaments]:
            found.remove(error)  # a grace note, a trill's neighbour, a tremolo's stroke: neither right nor wrong
            status[error.note] = "ornament"
        heard_again = set(played.chord_pitches[chord].tolist()) if follower.transcribed else set()
        for error in [
            e for e in found if e.kind == "extra" and (follower.overtone[chord, e.pitch] or e.pitch in heard_again)
        ]:
            found.remove(error)  # the transcriber heard an overtone of a key struck, or the key again
            status[error.note] = "overtone"
        bar.correct += len(correct)
        bar.errors.extend(found)
        errors.extend(found)
    for chord, t, bar_entry, before, after in skipped_chords:
        t = _due_between(played, chord, before, after, expected, due, t)
        for pitch in played.chord_pitches[chord]:
            error = NoteError("missed", t, int(pitch), chord=chord)
            bars[bar_entry].errors.append(error)
            errors.append(error)
    for made, at in _pair_wrong([bar.errors for bar in bars]):
        status[made.note] = made.kind
        bars[at].correct += made.kind == "correct"
    for bar in bars:
        bar.errors.sort(key=lambda e: e.time_s)
    errors = sorted((e for bar in bars for e in bar.errors), key=lambda e: e.time_s)
    return Alignment(played, onsets, pitches, note_chord, status, errors, bars, jumps, chord_onsets)


def _skipped_chord_struck_wrong(
    played: PlayedScore,
    key: tuple[int, int],
    groups: dict[tuple[int, int], list[int]],
    skipped_chords: list[tuple[int, float, int, tuple[int, int], tuple[int, int]]],
    pitches: np.ndarray,
) -> bool:
    """A chord struck again after a pause, whose path came to it passing over the chord just before it: was its
    first strike that chord, played with a wrong key (a learner's G-E-E-D for G-F-E-D reads as G, E, then E struck
    again)? Yes when every note struck so far is within ``WRONG_PAIR_SEMITONES`` of a note of the chord passed."""
    visit, chord = key
    if chord == 0 or not skipped_chords or skipped_chords[-1][0] != chord - 1 or (visit, chord - 1) in groups:
        return False
    members, written = groups[key], played.chord_pitches[chord - 1]
    return 0 < len(members) <= len(written) and all(
        int(np.min(np.abs(written - int(pitches[m])))) <= WRONG_PAIR_SEMITONES for m in members
    )


def _rehome(
    key: tuple[int, int],
    now: float,
    groups: dict[tuple[int, int], list[int]],
    due: dict[tuple[int, int], float],
    group_bar: dict[tuple[int, int], int],
    skipped_chords: list[tuple[int, float, int, tuple[int, int], tuple[int, int]]],
    chord_onsets: list[tuple[int, float, int, int]],
) -> dict[tuple[int, int], list[int]]:
    """Give the notes of ``key`` so far to the chord before it (no longer passed over) and start ``key`` again
    ``now``; returns the groups in the order played (``due``, ``group_bar`` and the lists are changed in place)."""
    visit, chord = key
    before = (visit, chord - 1)
    skipped_chords.pop()
    out = {}
    for k, members in groups.items():
        if k == key:
            out[before] = members
        out[k] = [] if k == key else members
    due[before], due[key] = due[key], now
    group_bar[before] = group_bar[key]
    at = max((i for i, visit_onset in enumerate(chord_onsets) if visit_onset[0] == chord), default=None)
    if at is not None:  # (a visit the chain entered before its notes were heard has none)
        _, first, _, entry = chord_onsets[at]
        chord_onsets[at] = (chord - 1, first, NEXT, entry)
    chord_onsets.append((chord, now, NEXT, group_bar[key]))
    return out


def _due_between(
    played: PlayedScore,
    chord: int,
    before: tuple[int, int],
    after: tuple[int, int],
    expected: dict[tuple[int, int], float],
    entered: dict[tuple[int, int], float],
    otherwise: float,
) -> float:
    """When a chord passed over was due, when the visit after it was entered early (a wrong key struck in its
    place, taken for the chord after): between when the visits on either side were most likely played, by written
    position. Else ``otherwise`` (the time found as the path passed over it)."""
    ends = expected.get(before, np.nan), expected.get(after, np.nan)
    span = float(played.chord_q[after[1]] - played.chord_q[before[1]])
    early = ends[1] - entered.get(after, ends[1]) > LATE_GAP_S and not len(played.chord_ornaments[after[1]])
    if np.isnan(ends).any() or span <= 0 or not early:  # (grace notes enter an ornamented chord early by design)
        return otherwise
    return ends[0] + (ends[1] - ends[0]) * float(played.chord_q[chord] - played.chord_q[before[1]]) / span


def _expected_times(played: PlayedScore, groups: dict[tuple[int, int], list[int]], onsets: np.ndarray) -> dict:
    """When each chord visit was most likely played: the median onset of its notes when it has three or more,
    else between the visits played on either side, by written position (two notes of a lone written note do not
    say which one came in time)."""
    keys = list(groups)
    centres = [float(np.median(onsets[groups[k]])) if groups[k] else np.nan for k in keys]
    out = {}
    for i, key in enumerate(keys):
        out[key] = centres[i]
        if len(groups[key]) >= 3 or i == 0 or i + 1 == len(keys):
            continue
        (_, before), (_, after) = keys[i - 1], keys[i + 1]
        span = float(played.chord_q[after] - played.chord_q[before])
        ends = centres[i - 1], centres[i + 1]
        if span > 0 and before < key[1] < after and not np.isnan(ends).any():
            share = float(played.chord_q[key[1]] - played.chord_q[before]) / span
            out[key] = ends[0] + (ends[1] - ends[0]) * share
    return out


def _nearest_first(members: list[int], pitches: np.ndarray, onsets: np.ndarray, expected: float) -> list[int]:
    """A visit's notes with, of two or more of one pitch, the one nearest ``expected`` first: it is the written
    note, the others a key struck again or a wrong key that happened to be a pitch of this chord."""
    if len({int(pitches[n]) for n in members}) == len(members) or np.isnan(expected):
        return members
    return sorted(members, key=lambda n: abs(float(onsets[n]) - expected))


def _strikes_again(
    played: PlayedScore, chord: int, members: list[int] | None, note: int, pitches: np.ndarray, onsets: np.ndarray
) -> bool:
    """Does this note, after a pause, strike a key of the chord already struck in this visit (in a chord without
    ornaments: a trill or tremolo strikes again by design)? The player went back: a restart, however short."""
    if not members or onsets[note] - onsets[members[-1]] < PAUSE_S or len(played.chord_ornaments[chord]):
        return False
    pitch = int(pitches[note])
    if chord + 1 < len(played) and pitch in played.chord_pitches[chord + 1]:
        return False  # the next chord holds the key too: a held note struck again, not a step back
    return pitch in {int(pitches[m]) for m in members}


def _due(played: PlayedScore, before: int, passed: int, after: int, then: float, now: float) -> float:
    """When a chord passed over was due: between the chords played on either side, by its written position."""
    span = float(played.chord_q[after] - played.chord_q[before])
    if span <= 0:
        return now
    return then + (now - then) * float(played.chord_q[passed] - played.chord_q[before]) / span


def _pair_wrong(errors_by_bar: list[list[NoteError]]) -> list[tuple[NoteError, int]]:
    """A missed note and an extra one played at about its time and pitch (in neighbouring chords, perhaps across a
    barline: the wrong key struck with the chord, or taken for a late note of the chord before) are one wrong note,
    kept in the bar of the written note; of the same pitch, they are the written note played a little early or late
    (kind "correct", no error). The lists (each bar's errors) are changed in place; returns the notes made, each
    with the index of its bar."""
    made = []
    extras = sorted(
        ((e, k) for k, errors in enumerate(errors_by_bar) for e in errors if e.kind == "extra"),
        key=lambda item: item[0].time_s,
    )
    missed = sorted(
        ((e, k) for k, errors in enumerate(errors_by_bar) for e in errors if e.kind == "missed"),
        key=lambda item: item[0].time_s,
    )
    for gap, at in missed:
        near = [
            (e, k)
            for e, k in extras
            if abs(e.time_s - gap.time_s) <= WRONG_PAIR_S and abs(e.pitch - gap.pitch) <= WRONG_PAIR_SEMITONES
        ]
        if not near:
            continue
        extra, where = min(near, key=lambda item: (abs(item[0].pitch - gap.pitch), abs(item[0].time_s - gap.time_s)))
        extras.remove((extra, where))
        errors_by_bar[at].remove(gap)
        errors_by_bar[where].remove(extra)
        kind = "correct" if extra.pitch == gap.pitch else "wrong"
        found = NoteError(kind, extra.time_s, extra.pitch, gap.pitch, gap.chord, extra.note)
        if kind == "wrong":
            errors_by_bar[at].append(found)
        made.append((found, at))
    return made


def _bar(played: PlayedScore, chord: int) -> str:
    return played.bar_number(int(played.chord_bar[chord]))


def _whole_bars(played: PlayedScore, before: int, after: int) -> list[int]:
    """The played-order positions of the bars with notes that lie wholly between two chords (skipped bars)."""
    between = played.chord_bar[before + 1 : after]
    return sorted({int(p) for p in between} - {int(played.chord_bar[before]), int(played.chord_bar[after])})


def _match_chord(
    written: np.ndarray,
    ornaments: set[int],
    members: list[int],
    pitches: np.ndarray,
    onsets: np.ndarray,
    chord: int,
    due: float,
) -> tuple[list[int], list[int], list[NoteError]]:
    """Match one visit of a chord: the played notes whose pitch is written are correct (each written note once);
    an unmatched played note is paired with the nearest unmatched written pitch within ``WRONG_PAIR_SEMITONES`` as a
    wrong note (a key next to the one written; a note further off is an extra one and the written one is missed);
    the rest of the played are extra and the rest of the written missed. A played pitch of the chord's
    ``ornaments`` is never a wrong note: it is the ornament's (the written note may yet pair with a wrong key struck
    nearby, :func:`_pair_wrong`). Returns (correct notes, wrong notes, errors)."""
    remaining = [int(p) for p in written]
    correct, unmatched = [], []
    for note in members:
        pitch = int(pitches[note])
        if pitch in remaining:
            remaining.remove(pitch)
            correct.append(note)
        else:
            unmatched.append(note)
    errors, wrong = [], []
    pairs = sorted(
        (abs(int(pitches[n]) - w), n, w)
        for n in unmatched
        for w in set(remaining)
        if abs(int(pitches[n]) - w) <= WRONG_PAIR_SEMITONES and int(pitches[n]) not in ornaments
    )
    for _, note, written_pitch in pairs:  # the closest pitches pair first
        if note in unmatched and written_pitch in remaining:
            unmatched.remove(note)
            remaining.remove(written_pitch)
            errors.append(NoteError("wrong", float(onsets[note]), int(pitches[note]), written_pitch, chord, note))
            wrong.append(note)
    for note in unmatched:
        errors.append(NoteError("extra", float(onsets[note]), int(pitches[note]), chord=chord, note=note))
    errors.extend(NoteError("missed", due, pitch, chord=chord) for pitch in remaining)
    return correct, wrong, errors
