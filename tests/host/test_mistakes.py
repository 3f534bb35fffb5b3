"""The mistake simulator behind `make eval-fundamentals`: each kind of mistake put into a clean take, with its truth."""

import numpy as np
import pytest

from pianocoach.repertoire import read_musicxml
from pianocoach.repertoire.align import RESTRIKE_GAP_S, align
from pianocoach.repertoire.store import BUILTIN_DIR
from pianocoach.repertoire.unfold import played_score
from pianocoach_train.mistakes import KINDS, Take, simulate


@pytest.fixture(scope="module")
def minuet():
    """The minuet played as written at 100 quarters a minute, with a little timing noise and, every seventh chord,
    its first key bounced (struck again 40 ms later, as recordings of real keys often show)."""
    played = played_score(read_musicxml(BUILTIN_DIR / "minuet-in-g.musicxml"))
    rng = np.random.default_rng(0)
    onsets, pitches = [], []
    for k, (q, chord) in enumerate(zip(played.chord_q, played.chord_pitches)):
        t = 0.6 * q + rng.normal(0, 0.01)
        onsets += [t] * len(chord)
        pitches += chord.tolist()
        if k % 7 == 3:
            onsets.append(t + 0.04)
            pitches.append(int(chord[0]))
    onsets, pitches = np.array(onsets), np.array(pitches)
    take = Take.of(onsets, onsets + 0.3, pitches, np.full(len(onsets), 64))
    return played, take, align(played, take.onset, take.pitch)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_mistake_has_its_truth_in_the_take(minuet, kind):
    played, take, clean = minuet
    mutated = simulate(take, clean, kind, np.random.default_rng(1))
    assert mutated.truths and {t.kind for t in mutated.truths} == {kind}
    assert all(0 <= t.time_s <= mutated.onset.max() + 1e-9 for t in mutated.truths)
    assert np.all(np.diff(mutated.onset) >= 0)
    if kind == "missed":
        assert len(mutated.onset) == len(take.onset) - len(mutated.truths)
    if kind == "extra":
        assert len(mutated.onset) == len(take.onset) + len(mutated.truths)


def test_a_missed_note_is_never_one_whose_key_is_struck_again_at_once(minuet):
    played, take, clean = minuet
    bounced = {
        (round(float(take.onset[i]), 6), int(take.pitch[i]))
        for i in range(len(take.onset))
        for j in range(len(take.onset))
        if i != j and take.pitch[i] == take.pitch[j] and abs(take.onset[i] - take.onset[j]) < RESTRIKE_GAP_S
    }
    assert bounced  # the take has them
    for seed in range(20):
        mutated = simulate(take, clean, "missed", np.random.default_rng(seed), rate=0.2)
        kept = {(round(float(t), 6), int(p)) for t, p in zip(mutated.onset, mutated.pitch)}
        assert bounced <= kept  # the bounced keys all still sound


def test_a_missed_note_is_never_one_whose_key_is_struck_again_in_its_chord(minuet):
    """A key brushed softly and then struck as the chord is played (0.18 s apart, one chord): leaving either out
    leaves the key struck when it was due, which is no missed note."""
    played, take, _ = minuet
    twins = np.flatnonzero(np.arange(len(take.onset)) % 9 == 4)
    brushed = Take.of(
        np.concatenate([take.onset, take.onset[twins] - 0.18]),
        np.concatenate([take.offset, take.onset[twins]]),
        np.concatenate([take.pitch, take.pitch[twins]]),
        np.concatenate([take.velocity, np.full(len(twins), 20)]),
    ).sorted()
    clean = align(played, brushed.onset, brushed.pitch)
    twice = {
        i
        for i in range(len(brushed.onset))
        for j in range(len(brushed.onset))
        if i != j
        and brushed.pitch[i] == brushed.pitch[j]
        and clean.note_chord[i] == clean.note_chord[j]
        and RESTRIKE_GAP_S <= abs(brushed.onset[i] - brushed.onset[j]) < 1.0
    }
    assert len(twice) >= len(twins)  # the take has them (both notes of a pair)
    for seed in range(20):
        mutated = simulate(brushed, clean, "missed", np.random.default_rng(seed), rate=0.2)
        kept = {(round(float(t), 6), int(p)) for t, p in zip(mutated.onset, mutated.pitch)}
        left_out = {
            i
            for i in range(len(brushed.onset))
            if (round(float(brushed.onset[i]), 6), int(brushed.pitch[i])) not in kept
        }
        assert left_out and not left_out & twice
