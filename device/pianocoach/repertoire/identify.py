"""Which piece is being played, and where: the notes played so far matched against every score in the repertoire.

The match is on the top voice: notes are grouped into onsets (a chord, or notes struck within ``CHORD_S`` of each
other when played), the highest note of each onset is kept, and successive top notes form n-grams of pitch
classes (``N`` long; pitch classes, so a transcription's octave slip costs nothing). A piece scores the
inverse-document-frequency weight of the query's distinct n-grams it contains (an n-gram every piece has says
little); its ``coverage`` is the share of the query's n-grams it contains. The best piece is taken when its
coverage is at least ``MIN_COVERAGE``; otherwise the take is free play. The place is the bar of the piece's
n-gram that matched the latest query n-gram.

A wrong note breaks the ``N`` n-grams around it and leaves the rest; a skipped or repeated bar only moves the
place. Cost: an index lookup per query n-gram, independent of the repertoire's size (up to the pieces sharing an
n-gram).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from pianocoach.repertoire.score import Score
from pianocoach.repertoire.variants import ScoreVariants

N = 4  # top-voice notes per n-gram
CHORD_S = 0.05  # played notes this close together count as one onset
MIN_COVERAGE = 0.3  # below this share of the query's n-grams, the best piece is not taken (free play)


@dataclass(frozen=True)
class Match:
    piece_id: str
    coverage: float  # share of the query's n-grams the piece holds
    weight: float  # their summed idf weight
    bar: str  # the bar number (as printed) where the latest matched n-gram lies
    bar_index: int


def top_voice(onsets: np.ndarray, pitches: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """(the index of the first note of each onset group, the highest pitch of each group); ``onsets`` sorted."""
    onsets = np.asarray(onsets, dtype=np.float64)
    if len(onsets) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], np.diff(onsets) > tolerance]))
    return starts, np.maximum.reduceat(np.asarray(pitches, dtype=np.int64), starts)


OVERTONES = (12, 19, 24, 28)  # semitones above a key struck where a transcriber may hear a note that was not


def played_top_voice(onsets_s: np.ndarray, pitches: np.ndarray, transcribed: bool = False) -> np.ndarray:
    """The highest note of each onset group of a take (onsets in seconds, any order); of a transcription, the
    highest that is not an overtone of a lower note of its group."""
    order = np.lexsort((pitches, onsets_s))
    onsets, sorted_pitches = np.asarray(onsets_s, dtype=np.float64)[order], np.asarray(pitches, dtype=np.int64)[order]
    starts, top = top_voice(onsets, sorted_pitches, CHORD_S)
    if not transcribed or len(starts) == 0:
        return top
    ends = np.append(starts[1:], len(onsets))
    out = top.copy()
    for k, (first, last) in enumerate(zip(starts, ends)):
        group = set(sorted_pitches[first:last].tolist())
        real = [p for p in group if not any(p - o in group for o in OVERTONES)]
        out[k] = max(real) if real else top[k]
    return out


def ngrams(top: np.ndarray) -> list[tuple[int, ...]]:
    classes = (np.asarray(top) % 12).tolist()
    return [tuple(classes[i : i + N]) for i in range(len(classes) - N + 1)]


class RepertoireIndex:
    """The n-grams of every piece's top voice, with where each lies."""

    def __init__(
        self,
        scores: dict[str, Score],
        titles: dict[str, str] | None = None,
        variants: dict[str, ScoreVariants] | None = None,
    ) -> None:
        self.scores = scores
        self.variants = variants or {}  # how skilled pianists commonly play a piece otherwise, by piece
        self.titles = {piece_id: (titles or {}).get(piece_id) or score.title for piece_id, score in scores.items()}
        self.bars: dict[str, list[str]] = {}
        self.where: dict[tuple[int, ...], dict[str, list[int]]] = defaultdict(dict)  # n-gram -> piece -> bar indices
        for piece_id, score in scores.items():
            starts, top = top_voice(score.onset_q, score.pitch, 1e-6)
            bars_of = score.bar[starts]
            self.bars[piece_id] = [b.number for b in score.bars]
            for position, gram in enumerate(ngrams(top)):
                self.where[gram].setdefault(piece_id, []).append(int(bars_of[position + N - 1]))
        pieces = max(len(scores), 1)
        self.idf = {gram: math.log(1.0 + pieces / len(found)) for gram, found in self.where.items()}

    def rank(self, onsets_s: np.ndarray, pitches: np.ndarray, limit: int = 3, transcribed: bool = False) -> list[Match]:
        """The best pieces for the notes played (onsets in seconds, any order), best first. ``transcribed``: the
        notes come from audio; the overtones a transcriber hears above a key are left out of the top voice."""
        query = ngrams(played_top_voice(onsets_s, pitches, transcribed))
        if not query:
            return []
        distinct = list(dict.fromkeys(query))
        weight: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        for gram in distinct:
            for piece_id in self.where.get(gram, {}):
                weight[piece_id] += self.idf[gram]
                count[piece_id] += 1
        best = sorted(weight, key=lambda p: (-weight[p], p))[:limit]
        return [self._match(p, query, count[p] / len(distinct), weight[p]) for p in best]

    def coverage(self, piece_id: str, onsets_s: np.ndarray, pitches: np.ndarray, transcribed: bool = False) -> float:
        """The share of the played n-grams that one piece holds (0 when too few notes were played)."""
        distinct = set(ngrams(played_top_voice(onsets_s, pitches, transcribed)))
        if not distinct:
            return 0.0
        return sum(piece_id in self.where.get(gram, {}) for gram in distinct) / len(distinct)

    def identify(self, onsets_s: np.ndarray, pitches: np.ndarray, transcribed: bool = False) -> Match | None:
        """The piece being played, or None (free play) when no piece holds enough of what was played."""
        ranked = self.rank(onsets_s, pitches, limit=1, transcribed=transcribed)
        return ranked[0] if ranked and ranked[0].coverage >= MIN_COVERAGE else None

    def describe(self, onsets_s: np.ndarray, pitches: np.ndarray, transcribed: bool = False) -> dict:
        """What a result reports: ``{"id", "title", "confidence", "bar"}``. ``confidence`` is the best piece's
        coverage; free play has id None (and the best coverage, below ``MIN_COVERAGE``)."""
        ranked = self.rank(onsets_s, pitches, limit=1, transcribed=transcribed)
        best = ranked[0] if ranked else None
        coverage = round(best.coverage, 3) if best else 0.0
        if best is None or best.coverage < MIN_COVERAGE:
            return {"id": None, "title": "free play", "confidence": coverage, "bar": None}
        return {"id": best.piece_id, "title": self.titles[best.piece_id], "confidence": coverage, "bar": best.bar}

    def _match(self, piece_id: str, query: list[tuple[int, ...]], coverage: float, weight: float) -> Match:
        bar_index = 0
        for gram in reversed(query):  # the latest query n-gram the piece holds: where the player is
            bars = self.where.get(gram, {}).get(piece_id)
            if bars:
                bar_index = bars[0]  # a passage the piece repeats: its first time
                break
        return Match(piece_id, coverage, weight, self.bars[piece_id][bar_index], bar_index)
