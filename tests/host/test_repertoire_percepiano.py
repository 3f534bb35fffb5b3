"""The MusicXML reader on real scores: PercePiano's 261 MusicXML excerpts (MuseScore 4 exports) against the MIDI
files MuseScore rendered from the same scores (``score_midi/``).

Compared as sets of (onset in quarter notes, rounded to a 32nd, pitch): MuseScore's MIDI also plays grace notes,
trills and repeats, which the written notes do not hold, so not every file can agree exactly. Measured when this
test was written: the median Jaccard agreement is 1.0 and 210 of the 261 files agree at 0.9 or better (the rest:
grace notes and ornaments played out, a repeat played twice, pickup bars whose written length differs from what
MuseScore plays).
"""

from __future__ import annotations

import warnings

import numpy as np
import pretty_midi
from real_data import real_percepiano

from pianocoach.repertoire import read_musicxml


def agreement(xml_path, midi_path) -> float:
    score = read_musicxml(xml_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tempo events on non-zero tracks
        midi = pretty_midi.PrettyMIDI(str(midi_path))
    written = {(round(float(q) * 8) / 8, int(p)) for q, p in zip(score.onset_q, score.pitch)}
    played = {
        (round(midi.time_to_tick(n.start) / midi.resolution * 8) / 8, n.pitch)
        for track in midi.instruments
        for n in track.notes
    }
    return len(written & played) / max(len(written | played), 1)


def test_the_reader_agrees_with_musescores_own_midi_on_percepiano_scores():
    root = real_percepiano()
    scores = sorted((root / "score_xml").glob("*.musicxml"))
    assert len(scores) >= 250
    rates = np.array([agreement(path, root / "score_midi" / f"{path.stem}.mid") for path in scores])
    assert np.median(rates) >= 0.99
    assert (rates >= 0.9).mean() >= 0.78, f"{(rates >= 0.9).sum()} of {len(rates)} files agree at 0.9 or better"


def test_identification_on_percepiano_takes(tmp_path):
    """The figures of `make eval-identify` (reports/repertoire/), held to what was measured when it was built."""
    from pianocoach_train.identify_eval import evaluate, write_report

    results = evaluate(real_percepiano())
    at_8s = next(row for row in results["start"] if row["seconds"] == 8.0)
    assert at_8s["right_work"] >= 0.85 and at_8s["right_music"] >= 0.78  # measured 0.890 and 0.824
    assert min(results["not_in_repertoire"].values()) >= 0.95  # measured 0.967-0.985 kept as free play
    assert results["identify_ms"]["median"] < 5.0  # measured 0.06 ms a call
    write_report(results, tmp_path)
    assert (tmp_path / "identify.png").stat().st_size > 10_000 and "| from the middle | 8 |" in (
        tmp_path / "identify.md"
    ).read_text()
