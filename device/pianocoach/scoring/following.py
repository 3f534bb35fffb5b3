"""A take against its piece: which piece (identified, or set by hand), the alignment with its score, and the
fundamentals; free play (no piece) gets the fundamentals the notes alone show."""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from pianocoach.features import NoteTable
from pianocoach.repertoire.align import Alignment, ScoreFollower, align, read_path
from pianocoach.repertoire.fundamentals import Fundamentals, free_fundamentals, score_fundamentals
from pianocoach.repertoire.identify import RepertoireIndex
from pianocoach.repertoire.score import Score
from pianocoach.repertoire.unfold import PlayedScore, played_score

log = logging.getLogger(__name__)


def marked_tempo(score: Score) -> float | None:
    """The score's first tempo marking in quarter notes a minute; None when it has none."""
    tempi = score.tempo_marks()
    return tempi[0][1] if tempi else None


_PLAYED: dict[int, tuple[Score, PlayedScore]] = {}  # id(score) -> (the score, kept alive; it unfolded)
_PLAYED_KEPT = 8


def _played(score: Score) -> PlayedScore:
    """The score unfolded, once per score object (a repertoire's scores live as long as the daemon)."""
    kept = _PLAYED.get(id(score))
    if kept is None or kept[0] is not score:
        if len(_PLAYED) >= _PLAYED_KEPT:
            _PLAYED.pop(next(iter(_PLAYED)))
        kept = _PLAYED[id(score)] = (score, played_score(score))
    return kept[1]


HAND_MIN_COVERAGE = 0.15  # a piece set by hand that holds less of what was played was not played: free play ...
# ... unless this share of the notes played still match its score note for note: then it was played, with many
# mistakes (every wrong note breaks several n-grams, so a take a quarter wrong can hold under 15 % of them and
# would otherwise be marked as free play, without its wrong notes). Another piece aligned with a score matches
# a fifth of its notes (PercePiano: median 0.20, 95th percentile 0.38; its own score: 5th percentile 0.67).
HAND_MIN_MATCHED = 0.5


class LiveFollowing:
    """While playing: the piece recognised from the newest window (or set by hand), and a score follower fed the
    settled notes of the take as they come, so the listening screen knows the bar and the end of the take has only
    its last notes left to align. When the piece recognised changes, the follower starts again on the new piece
    with the notes so far (a rare event: once or twice at the start of a take)."""

    def __init__(self, repertoire: RepertoireIndex | None, piece_id: str | None, transcribed: bool = False) -> None:
        self.repertoire = repertoire
        self.transcribed = transcribed
        self.piece_id = piece_id
        self.follower: ScoreFollower | None = None
        self.piece: str | None = None  # whose score the follower follows
        self.onsets: list[float] = []  # the notes fed, in order
        self.pitches: list[int] = []
        self.fed_until = -np.inf
        self.said: dict | None = None  # the piece said while playing
        self.candidate: str | None = None  # another piece the newest window matched, once
        self.window_start = -np.inf  # where the newest window identified began

    def identify(self, window: NoteTable) -> dict:
        """The piece the newest window's notes match. A piece other than the one said (or the first) is said only
        once two windows in a row agree on it: the first notes of a take often match more than one piece."""
        assert self.repertoire is not None  # only with a repertoire
        self.window_start = window.start
        found = self.repertoire.describe(window.onset, window.pitch, self.transcribed)
        if self.piece_id is not None and found["id"] != self.piece_id:  # set by hand: its title, place unknown
            title = self.repertoire.titles.get(self.piece_id, self.piece_id)
            found = {"id": self.piece_id, "title": title, "confidence": None, "bar": None}
        said_id = self.said["id"] if self.said is not None else None
        if found["id"] == said_id or found["id"] == self.candidate or self.piece_id is not None:
            self.said, self.candidate = found, None
        else:
            self.candidate = found["id"]
        return self.said if self.said is not None else {**found, "id": None, "title": "free play", "bar": None}

    def follow(self, live: dict, notes, settled_until: float, now: float) -> dict:
        """Feed the notes begun before ``settled_until`` (their onsets and pitches will not change); returns
        ``live`` with the bar the follower says."""
        assert self.repertoire is not None  # only with a repertoire
        piece = live.get("id")
        if piece is None or piece not in self.repertoire.scores:
            return live
        if piece != self.piece or self.window_start > self.fed_until:
            # the follower starts with the notes of the window that named the piece, not the whole take so far: a
            # piece recognised an hour into a take costs one window of notes, not an hour of them (then the end of
            # the take aligns it again from its first note). So does a piece named again after a stretch of other
            # playing: the notes not followed meanwhile are left out, not fed all at once.
            self.follower = ScoreFollower(_played(self.repertoire.scores[piece]), transcribed=self.transcribed)
            self.piece, self.onsets, self.pitches = piece, [], []
            self.fed_until = self.window_start - 1e-9 if np.isfinite(self.window_start) else -np.inf
        assert self.follower is not None  # made above
        if settled_until > self.fed_until:
            since = self.fed_until if np.isfinite(self.fed_until) else -1e9  # from the take's first note
            table = notes.settled(since, settled_until, now)
            if table is not None:
                for onset, pitch in zip(table.onset.tolist(), table.pitch.tolist()):
                    self.follower.feed(onset, pitch)
                    self.onsets.append(onset)
                    self.pitches.append(pitch)
            self.fed_until = settled_until
        position = self.follower.position()
        if position is None:
            return live
        played = self.follower.played
        return {**live, "bar": played.bar_number(int(played.chord_bar[position]))}

    def follower_of(self, table: NoteTable) -> tuple[str, ScoreFollower] | None:
        """The follower, when the notes it was fed are the final take's first notes (then it needs only the
        rest); None otherwise (the take is aligned again from the start)."""
        fed = len(self.onsets)
        if self.follower is None or self.piece is None or fed > len(table):
            return None
        same = np.array_equal(np.asarray(self.onsets), table.onset[:fed]) and np.array_equal(
            np.asarray(self.pitches), table.pitch[:fed].astype(np.int64)
        )
        return (self.piece, self.follower) if same else None


class TakeAgainstScore(NamedTuple):
    piece: dict | None  # {"id", "title", "confidence", "bar", "set_by_hand"}; None without a repertoire
    fundamentals: Fundamentals
    warning: str  # "" or why a piece set by hand was not followed
    alignment: Alignment | None  # None in free play


def take_fundamentals(
    table: NoteTable,
    kind: str,
    repertoire: RepertoireIndex | None,
    piece_id: str | None = None,
    followed: tuple[str, ScoreFollower] | None = None,
) -> TakeAgainstScore:
    """The piece, the fundamentals, a warning or "" and the alignment with the score (the score-relative descriptors
    are made from it). ``piece_id``: the piece set by hand (``--piece``, ``--score``), not identified; a take that is
    plainly not that piece (few of its note patterns, and under half of its notes, in the score) is free play, and
    the warning says so. ``followed``: (piece, its follower fed the take's
    first notes while playing), used when the piece is that one."""
    piece, warning, alignment = None, "", None
    if repertoire is not None and piece_id is not None:
        if piece_id not in repertoire.scores:
            raise KeyError(piece_id)
        confidence = round(repertoire.coverage(piece_id, table.onset, table.pitch, kind == "audio"), 3)
        title = repertoire.titles[piece_id]
        piece = {"id": piece_id, "title": title, "confidence": confidence, "bar": None, "set_by_hand": True}
        if confidence < HAND_MIN_COVERAGE:
            played = _played(repertoire.scores[piece_id])
            alignment = align(played, table.onset, table.pitch, transcribed=kind == "audio")
        if alignment is not None and alignment.correct < HAND_MIN_MATCHED * len(table):
            warning = (
                f"the take does not match {title} ({confidence:.0%} of its note patterns are in the score, "
                f"{alignment.correct / max(1, len(table)):.0%} of its notes): scored as free play"
            )
            piece = {"id": None, "title": "free play", "confidence": confidence, "bar": None, "set_by_hand": True}
    elif repertoire is not None:
        piece = {**repertoire.describe(table.onset, table.pitch, kind == "audio"), "set_by_hand": False}
    if piece is None or piece["id"] is None:
        return TakeAgainstScore(piece, free_fundamentals(table.onset, table.pitch), warning, None)
    assert repertoire is not None  # a piece implies a repertoire
    score = repertoire.scores[str(piece["id"])]
    if alignment is None and followed is not None and followed[0] == piece["id"]:
        follower = followed[1]
        for onset, pitch in zip(table.onset[follower.notes :].tolist(), table.pitch[follower.notes :].tolist()):
            follower.feed(onset, pitch)
        alignment = read_path(follower, table.onset, table.pitch)
    elif alignment is None:
        alignment = align(_played(score), table.onset, table.pitch, transcribed=kind == "audio")
    velocities = table.velocity.astype(np.float64) if kind == "midi" else None  # a transcription's are not trusted
    found = score_fundamentals(alignment, velocities, marked_tempo(score), repertoire.variants.get(str(piece["id"])))
    if alignment.bars:
        piece["bar"] = alignment.bars[-1].number  # where the take ended
    return TakeAgainstScore(piece, found, warning, alignment)
