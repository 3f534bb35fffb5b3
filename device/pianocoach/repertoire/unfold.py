"""A score in the order it is played: repeats taken, volta endings chosen by pass, the notes grouped into chords.

:func:`unfold_bars` walks the written bars as a player reads them: a backward repeat barline sends the player back
to the last forward repeat (or the start, or the bar after the previous repeat's end) until the passage has been
played its ``times``; a bar inside a volta ending is played only on the passes its numbers name. A player may also
not take a repeat: :class:`PlayedScore` records, for each jump back, the structural skip from the end of that pass
to where the music goes on after the last pass, so the aligner can follow either reading cheaply.

:class:`PlayedScore` holds the unfolded chords (score notes sharing an onset), each with the written bar it lies
in and which occurrence of that bar in the unfolded order it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pianocoach.repertoire.score import Bar, Score

MAX_TIMES = 8  # a repeat barline asking for more passes is read as this many
MAX_UNFOLDED_BARS_FACTOR = 10  # an unfolded score is at most this many times its written bars (a damaged score's loops)


def unfold_bars(bars: list[Bar]) -> tuple[list[int], list[tuple[int, int]]]:
    """(the written bar indices in played order, the structural skips): each skip is (the position in the played
    order of a bar after which the player jumps back, the position of the first bar written after it: where a
    player who does not take the repeat goes on)."""
    order: list[int] = []
    jumps: list[int] = []  # positions (in ``order``) of the bars after which the player jumps back
    section_start = 0  # where a backward repeat without a forward one sends the player
    repeat_start = 0
    passes = 1
    index = 0
    limit = MAX_UNFOLDED_BARS_FACTOR * max(len(bars), 1)
    while index < len(bars) and len(order) < limit:
        bar = bars[index]
        if bar.repeat_start and passes == 1:
            repeat_start = index
        if bar.endings and passes not in bar.endings:
            index += 1
            continue
        order.append(index)
        times = min(bar.repeat_end, MAX_TIMES)
        if times and passes < times:
            passes += 1
            jumps.append(len(order) - 1)
            index = max(repeat_start, section_start)
            continue
        if times:  # the last pass of this repeat: the next section starts after it
            passes = 1
            section_start = repeat_start = index + 1
        index += 1
    skips = []
    for position in jumps:  # not taking the repeat: on to the first bar written after the one that jumps back
        beyond = next((p for p in range(position + 1, len(order)) if order[p] > order[position]), None)
        if beyond is not None:
            skips.append((position, beyond))
    return order, skips


@dataclass
class PlayedScore:
    """The score's chords in played order."""

    score: Score
    bar_order: list[int]  # written bar index of each played bar
    chord_notes: list[np.ndarray]  # score note indices of each chord
    chord_pitches: list[np.ndarray]
    chord_ornaments: list[np.ndarray]  # pitches a player may add at each chord (its ornaments; with a tremolo or
    #                                    trill, the chord's own pitches struck again too)
    chord_bar: np.ndarray  # int32: position in ``bar_order`` of each chord
    chord_q: np.ndarray  # float64: onset in quarter notes along the played order
    chord_skips: list[tuple[int, int]]  # structural skips between chords (not taking a repeat)

    def __len__(self) -> int:
        return len(self.chord_notes)

    @property
    def chord_sizes(self) -> np.ndarray:
        return np.array([len(n) for n in self.chord_notes], dtype=np.int64)

    def bar_number(self, position: int) -> str:
        """The printed number of the played bar at ``position`` in ``bar_order``."""
        return self.score.bars[self.bar_order[position]].number

    def bar_start_q(self, position: int) -> float:
        return float(self.bar_starts_q[position])

    @property
    def bar_starts_q(self) -> np.ndarray:
        """Where each played bar begins, in quarter notes along the played order."""
        lengths = np.array([self.score.bars[b].length_q for b in self.bar_order], dtype=np.float64)
        return np.concatenate([[0.0], np.cumsum(lengths)[:-1]])


def played_score(score: Score) -> PlayedScore:
    """The score unfolded into chords in played order."""
    order, bar_skips = unfold_bars(score.bars)
    by_bar: dict[int, list[int]] = {}
    for note in range(len(score)):
        by_bar.setdefault(int(score.bar[note]), []).append(note)
    lengths = np.array([score.bars[b].length_q for b in order], dtype=np.float64)
    played_start = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    chord_notes: list[np.ndarray] = []
    chord_pitches: list[np.ndarray] = []
    chord_ornaments: list[np.ndarray] = []
    chord_bar: list[int] = []
    chord_q: list[float] = []
    first_chord_of_bar: list[int] = []
    for position, written in enumerate(order):
        first_chord_of_bar.append(len(chord_notes))
        notes = np.array(by_bar.get(written, []), dtype=np.int64)
        if len(notes) == 0:
            continue
        onsets = score.onset_q[notes]
        chord_onsets = np.unique(np.round(onsets, 6))
        bar_end = score.bars[written].start_q + score.bars[written].length_q
        for k, onset in enumerate(chord_onsets):
            members = notes[np.abs(onsets - onset) < 1e-6]
            # one key struck once: a pitch written in two voices (or staves) at once is one note to play
            members = members[np.unique(score.pitch[members], return_index=True)[1]]
            chord_notes.append(members)
            chord_pitches.append(score.pitch[members].astype(np.int64))
            until = chord_onsets[k + 1] if k + 1 < len(chord_onsets) else bar_end
            chord_ornaments.append(_ornaments_between(score, onset, until, chord_pitches[-1]))
            chord_bar.append(position)
            chord_q.append(played_start[position] + onset - score.bars[written].start_q)
    first_chord_of_bar.append(len(chord_notes))
    chord_skips = []
    for after, to in bar_skips:
        last = first_chord_of_bar[after + 1] - 1  # the last chord of the bar after which the player jumps back
        target = first_chord_of_bar[to]
        if 0 <= last < target < len(chord_notes):
            chord_skips.append((last, target))
    return PlayedScore(
        score,
        order,
        chord_notes,
        chord_pitches,
        chord_ornaments,
        np.asarray(chord_bar, dtype=np.int32),
        np.asarray(chord_q, dtype=np.float64),
        chord_skips,
    )


def _ornaments_between(score: Score, start_q: float, until_q: float, pitches: np.ndarray) -> np.ndarray:
    """The ornament pitches written from ``start_q`` up to ``until_q`` (grace notes lead into the chord at
    ``start_q``); with any, the chord's own pitches may be struck again too."""
    inside = (score.ornament_q >= start_q - 1e-6) & (score.ornament_q < until_q - 1e-6)
    if not inside.any():
        return np.zeros(0, dtype=np.int64)
    return np.union1d(score.ornament_pitch[inside].astype(np.int64), pitches)
