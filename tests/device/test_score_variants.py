"""A piece's variants: how skilled pianists commonly play it otherwise than its edition. Their errors and pauses are
left out of the fundamentals (not out of the alignment the descriptors read); a variants file is bound to its score
file and refused, with a warning naming it, when damaged, too large or learned on another score."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import numpy as np
import pytest
from test_score_following import bar_positions, note_index, played_as_written

from pianocoach.repertoire import read_musicxml
from pianocoach.repertoire.align import align
from pianocoach.repertoire.fundamentals import score_fundamentals
from pianocoach.repertoire.store import BUILTIN_DIR, Repertoire, RepertoireError, load_index
from pianocoach.repertoire.unfold import played_score
from pianocoach.repertoire.variants import MAX_BYTES, VARIANTS_NAME, ScoreVariants, read_variants
from pianocoach.scoring.following import marked_tempo

MINUET = BUILTIN_DIR / "minuet-in-g.musicxml"


def _take_without_a_note_and_with_a_stop():
    """The minuet as written, one note of bar 3 left out and a 2 s stop before bar 9."""
    score = read_musicxml(MINUET)
    onsets, pitches, velocities = played_as_written(score)
    left_out = note_index(score, "3", nth=1)
    keep = np.arange(len(onsets)) != left_out
    bar_of = np.array([played_score(score).bar_number(int(b)) for b in bar_positions(score)])
    stopped = np.where(np.arange(len(onsets)) >= np.flatnonzero(bar_of == "9")[0], onsets + 2.0, onsets)
    return score, stopped[keep], pitches[keep], velocities[keep]


def test_common_errors_and_pauses_are_not_the_players_mistakes():
    score, onsets, pitches, velocities = _take_without_a_note_and_with_a_stop()
    alignment = align(played_score(score), onsets, pitches)
    plain = score_fundamentals(alignment, velocities, marked_tempo(score))
    assert plain.notes["missed"] == 1 and len(plain.stops) == 1 and plain.notes["as_commonly_played"] == 0
    missed = next(e for e in alignment.errors if e.kind == "missed")
    stop_chord = next(after for after, _, _, _ in alignment.chord_onsets if after > 0 and _stop_lands(alignment, after))
    variants = ScoreVariants("sha", 10, frozenset({("missed", missed.chord, missed.pitch)}), frozenset({stop_chord}))
    found = score_fundamentals(alignment, velocities, marked_tempo(score), variants)
    assert found.notes["missed"] == 0 and found.notes["as_commonly_played"] == 1
    assert found.stops == [] and found.factor > plain.factor
    assert all(not row["errors"]["missed"] for row in found.bars)
    # the alignment itself (the descriptors read its notes' status) is left as it was
    assert alignment.count("missed") == 1
    # an error at another chord or pitch is still the player's
    other = ScoreVariants("sha", 10, frozenset({("missed", missed.chord, missed.pitch + 1)}), frozenset())
    assert score_fundamentals(alignment, velocities, marked_tempo(score), other).notes["missed"] == 1


def _stop_lands(alignment, chord: int) -> bool:
    times = {c: t for c, t, _, _ in alignment.chord_onsets}
    before = max(c for c in times if c < chord)
    return times[chord] - times[before] > 2.0


def test_variants_are_kept_with_their_piece_and_read_back(tmp_path):
    repertoire = Repertoire(tmp_path / "repertoire", builtin_dir=None)  # the built-in minuet would be the same file
    source = tmp_path / "minuet.musicxml"
    shutil.copy(MINUET, source)
    piece = repertoire.add(source)
    variants = ScoreVariants(piece.sha256, 12, frozenset({("extra", 3, 67), ("missed", 5, 60)}), frozenset({9}))
    index = repertoire.root / "index.json"
    before = index.stat().st_mtime_ns, index.stat().st_ino
    repertoire.set_variants(piece.id, variants)
    assert repertoire.variants(piece.id) == variants
    assert (index.stat().st_mtime_ns, index.stat().st_ino) != before  # a running daemon reads the pieces again
    assert load_index(repertoire).variants == {piece.id: variants}
    with pytest.raises(RepertoireError, match="another score file"):
        repertoire.set_variants(piece.id, ScoreVariants("0" * 64, 12, frozenset(), frozenset()))
    with pytest.raises(RepertoireError, match="built in"):
        Repertoire(tmp_path / "other").set_variants("minuet-in-g", variants)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "variants ignored"),
        (json.dumps({"score_sha256": "x", "takes": 3, "errors": [["late", 1, 60]], "pauses": []}), "not an error"),
        (json.dumps({"score_sha256": "x", "takes": 3, "errors": [["wrong", 1, 200]], "pauses": []}), "not an error"),
        (json.dumps({"score_sha256": "other", "takes": 3, "errors": [], "pauses": []}), "another score file"),
        (" " * (MAX_BYTES + 1), "larger than"),
    ],
)
def test_an_unusable_variants_file_is_ignored_with_a_warning_naming_it(tmp_path, caplog, content, message):
    path = tmp_path / VARIANTS_NAME
    path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert read_variants(path, "x") is None
    assert str(path) in caplog.text and message in caplog.text


def test_a_piece_is_scored_with_its_variants(tmp_path):
    """`pianocoach score --repertoire DIR` reads the variants beside the piece: the note skilled pianists leave
    out is not called missed."""
    from pianocoach.features import NoteTable
    from pianocoach.scoring.following import take_fundamentals

    repertoire = Repertoire(tmp_path / "repertoire", builtin_dir=None)  # the built-in minuet would be the same file
    source = tmp_path / "minuet.musicxml"
    shutil.copy(MINUET, source)
    piece = repertoire.add(source)
    score, onsets, pitches, velocities = _take_without_a_note_and_with_a_stop()
    table = NoteTable.from_arrays(onsets, onsets + 0.3, pitches, velocities)
    index = load_index(repertoire)
    before = take_fundamentals(table, "midi", index, piece_id=piece.id).fundamentals
    missed = next(e for e in align(played_score(score), onsets, pitches).errors if e.kind == "missed")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    repertoire.set_variants(
        piece.id, ScoreVariants(digest, 10, frozenset({("missed", missed.chord, missed.pitch)}), frozenset())
    )
    after = take_fundamentals(table, "midi", load_index(repertoire), piece_id=piece.id).fundamentals
    assert before.notes["missed"] == 1 and after.notes["missed"] == 0 and after.notes["as_commonly_played"] == 1


def test_the_terminal_report_says_how_many_errors_were_left_out_as_commonly_played():
    from types import SimpleNamespace

    from pianocoach.terminal_report import _fundamentals

    score, onsets, pitches, velocities = _take_without_a_note_and_with_a_stop()
    alignment = align(played_score(score), onsets, pitches)
    missed = next(e for e in alignment.errors if e.kind == "missed")
    variants = ScoreVariants("sha", 10, frozenset({("missed", missed.chord, missed.pitch)}), frozenset())
    for given, said in ((None, False), (variants, True)):
        found = score_fundamentals(alignment, velocities, marked_tempo(score), given)
        lines = _fundamentals(SimpleNamespace(fundamentals=found.to_dict(), overall=50.0, expression_mark=50.0))
        assert ("1 more as pianists commonly play it, not counted" in lines[0]) is said
