"""A score as the device keeps it: the notes in written order (repeats not unfolded), the bars with their
time signatures, repeat barlines and volta endings, and the key, tempo and dynamics markings.

Positions are in quarter notes from the start of the first bar (``onset_q``); :meth:`Score.seconds` turns
them into seconds with the score's tempo markings. The cached form is one small JSON file per piece.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

DEFAULT_TEMPO_QPM = 120.0  # quarter notes a minute when a score has no tempo marking (MIDI's default too)
CACHE_VERSION = 3  # the cached JSON's layout; a cache of another version is rebuilt from the score file
# 3: fermatas are kept (a cache of version 2 was read without them)


@dataclass(frozen=True)
class Bar:
    number: str  # as printed (MusicXML's measure number: "0" for a pickup, "12a" for a split bar)
    start_q: float
    length_q: float
    beats: int  # time signature
    beat_type: int
    repeat_start: bool = False  # a forward repeat barline at its start
    repeat_end: int = 0  # a backward repeat barline at its end: how many times the passage is played (0: none)
    endings: tuple[int, ...] = ()  # the volta numbers this bar belongs to (e.g. (1,) or (2,))


@dataclass(frozen=True)
class Marking:
    at_q: float
    kind: str  # "tempo" (value: quarter notes a minute), "key" (value: fifths), "dynamic" (text: p, mf, ...),
    #           "wedge" (text: crescendo, diminuendo, stop), "fermata" (a note or rest held: a pause the score asks for)
    value: float = 0.0
    text: str = ""
    staff: int = 0  # 0: the whole score


@dataclass
class Score:
    title: str
    composer: str
    onset_q: np.ndarray  # float64, sorted by onset then pitch
    duration_q: np.ndarray  # float64 (tied notes merged into one)
    pitch: np.ndarray  # int16, MIDI numbers
    staff: np.ndarray  # int8: 1 = the top staff (right hand in piano music), 2 = the next, ...
    bar: np.ndarray  # int32: index into ``bars``
    bars: list[Bar]
    markings: list[Marking] = field(default_factory=list)
    grace_notes: int = 0  # left out: they take no written time
    # notes a player may add around a written note: grace notes, trill and turn neighbours, tremolo strokes (the
    # written pitch struck again): (written onset in quarter notes, pitch) pairs; neither right nor wrong
    ornament_q: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    ornament_pitch: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))

    def __len__(self) -> int:
        return len(self.pitch)

    @property
    def length_q(self) -> float:
        return self.bars[-1].start_q + self.bars[-1].length_q if self.bars else 0.0

    def of_kind(self, kind: str) -> list[Marking]:
        return [m for m in self.markings if m.kind == kind]

    def tempo_marks(self) -> list[tuple[float, float]]:
        """(position in quarter notes, quarter notes a minute) of each tempo marking, in order."""
        return sorted((m.at_q, m.value) for m in self.of_kind("tempo") if m.value > 0)

    def seconds(self, positions_q: np.ndarray | float) -> np.ndarray:
        """Quarter-note positions in seconds, at the score's tempo markings."""
        tempi = self.tempo_marks()
        if not tempi or tempi[0][0] > 0:
            first = tempi[0][1] if tempi else DEFAULT_TEMPO_QPM  # the first marking holds from the start
            tempi.insert(0, (0.0, first))
        starts = np.array([t[0] for t in tempi])
        seconds_per_q = 60.0 / np.array([t[1] for t in tempi])
        at_start = np.concatenate([[0.0], np.cumsum(np.diff(starts) * seconds_per_q[:-1])])
        q = np.asarray(positions_q, dtype=np.float64)
        segment = np.clip(np.searchsorted(starts, q, side="right") - 1, 0, len(starts) - 1)
        return at_start[segment] + (q - starts[segment]) * seconds_per_q[segment]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cache_version": CACHE_VERSION,
            "title": self.title,
            "composer": self.composer,
            "grace_notes": self.grace_notes,
            "notes": {
                "onset_q": [round(float(v), 6) for v in self.onset_q],
                "duration_q": [round(float(v), 6) for v in self.duration_q],
                "pitch": self.pitch.tolist(),
                "staff": self.staff.tolist(),
                "bar": self.bar.tolist(),
            },
            "ornaments": {
                "onset_q": [round(float(v), 6) for v in self.ornament_q],
                "pitch": self.ornament_pitch.tolist(),
            },
            "bars": [asdict(b) for b in self.bars],
            "markings": [asdict(m) for m in self.markings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Score:
        """The cached form back (:meth:`to_dict`); a KeyError or ValueError means a damaged cache."""
        if data.get("cache_version") != CACHE_VERSION:
            raise ValueError(f"cache version {data.get('cache_version')!r}, expected {CACHE_VERSION}")
        notes = data["notes"]
        bars = [Bar(**{**b, "endings": tuple(b["endings"])}) for b in data["bars"]]
        return cls(
            title=str(data["title"]),
            composer=str(data["composer"]),
            onset_q=np.asarray(notes["onset_q"], dtype=np.float64),
            duration_q=np.asarray(notes["duration_q"], dtype=np.float64),
            pitch=np.asarray(notes["pitch"], dtype=np.int16),
            staff=np.asarray(notes["staff"], dtype=np.int8),
            bar=np.asarray(notes["bar"], dtype=np.int32),
            bars=bars,
            markings=[Marking(**m) for m in data["markings"]],
            grace_notes=int(data["grace_notes"]),
            ornament_q=np.asarray(data["ornaments"]["onset_q"], dtype=np.float64),
            ornament_pitch=np.asarray(data["ornaments"]["pitch"], dtype=np.int16),
        )


def sorted_score(score: Score) -> Score:
    """The same score with its notes ordered by onset, then pitch."""
    order = np.lexsort((score.pitch, score.onset_q))
    return Score(
        score.title,
        score.composer,
        score.onset_q[order],
        score.duration_q[order],
        score.pitch[order],
        score.staff[order],
        score.bar[order],
        score.bars,
        sorted(score.markings, key=lambda m: m.at_q),
        score.grace_notes,
        score.ornament_q,
        score.ornament_pitch,
    )
