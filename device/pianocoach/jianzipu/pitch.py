"""The pitch a character sounds in a tuning.

A stopped string sounds over the part between the bridge (岳山) and the finger: at hui h the sounding
length is the hui's string-length fraction p(h) (hui 7 = 1/2: an octave up), so f = f_open / p(h).
Between hui, x tenths past hui h lie at p(h) + x/10 (p(h+1) - p(h)), with the nut (龙龈, p = 1) after
hui 13. A harmonic at a hui whose fraction is k/n (in lowest terms) sounds the n-th partial: n f_open.

An unmarked character (nothing written for the left hand) sounds its open string, if it is open. No pitch
(None) where the notation does not fix one: no string written, 徽外 (no exact place), or an unmarked
character whose marks need a finger on the string (the left hand keeps an unwritten place).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from pianocoach.jianzipu.knowledge import Knowledge, load_knowledge
from pianocoach.jianzipu.parser import Character, keeps_place

NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class Pitch:
    frequency_hz: float
    midi: float  # fractional MIDI number
    note: str  # nearest equal-tempered note, e.g. "G3"
    cents: float  # deviation from that note

    def describe(self) -> str:
        off = f" {self.cents:+.0f} cents" if abs(self.cents) >= 1 else ""
        return f"{self.note}{off} ({self.frequency_hz:.1f} Hz)"


def midi_to_hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def pitch_of_frequency(frequency: float) -> Pitch:
    midi = 69 + 12 * math.log2(frequency / 440.0)
    nearest = int(round(midi))
    return Pitch(
        round(frequency, 3),
        round(midi, 3),
        f"{NAMES[nearest % 12]}{nearest // 12 - 1}",
        round(100 * (midi - nearest), 1),
    )


def sounding_fraction(hui: float, knowledge: Knowledge | None = None) -> float:
    """String-length fraction that sounds when the string is stopped at ``hui`` (1 .. 13.9)."""
    positions = [float(p) for p in (knowledge or load_knowledge()).hui_positions()] + [1.0]
    whole = int(hui)
    if not 1 <= whole <= 13:
        raise ValueError(f"hui {hui} is off the instrument")
    return positions[whole - 1] + (hui - whole) * (positions[whole] - positions[whole - 1])


def pitch(character: Character, tuning: str = "standard", knowledge: Knowledge | None = None) -> Pitch | None:
    """The pitch the character sounds, or None where the notation does not fix it (see the module doc)."""
    knowledge = knowledge or load_knowledge()
    if tuning not in knowledge.tunings:
        raise ValueError(f"unknown tuning {tuning!r}; known: {', '.join(knowledge.tunings)}")
    if character.string is None or keeps_place(character, knowledge):
        return None
    open_hz = midi_to_hz(knowledge.tunings[tuning]["open_midi"][character.string - 1])
    if character.form in ("open", "unmarked"):
        return pitch_of_frequency(open_hz)
    if character.hui is None:  # 徽外: past the 13th hui, no fixed place
        return None
    if character.form == "harmonic":
        partial = Fraction(knowledge.hui_positions()[int(character.hui) - 1]).denominator
        return pitch_of_frequency(open_hz * partial)
    return pitch_of_frequency(open_hz / sounding_fraction(character.hui, knowledge))
