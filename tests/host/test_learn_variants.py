"""Learning a passage's variants from skilled takes (`python -m pianocoach_train.score_variants`): what enough of
the takes play otherwise becomes a variant, one take's slip does not, and the device repertoire keeps them."""

import json
import shutil

import numpy as np
from real_data import real_percepiano

from pianocoach.features import NoteTable
from pianocoach.repertoire import read_musicxml
from pianocoach.repertoire.align import align
from pianocoach.repertoire.store import BUILTIN_DIR, Repertoire, load_index
from pianocoach.repertoire.unfold import played_score
from pianocoach.repertoire.variants import MIN_TAKES, VARIANTS_NAME
from pianocoach_train.score_variants import learn_variants, main

MINUET = BUILTIN_DIR / "minuet-in-g.musicxml"


def _takes(score, count: int, leave_out: int | None, every: int, seed: int = 0) -> list[NoteTable]:
    """``count`` takes of the score as written; every ``every``-th leaves out note ``leave_out``."""
    played = played_score(score)
    onsets = 0.1 + np.concatenate([[0.6 * q] * len(c) for q, c in zip(played.chord_q, played.chord_pitches)])
    pitches = np.concatenate(played.chord_pitches)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        keep = np.ones(len(onsets), dtype=bool)
        if leave_out is not None and k % every == 0:
            keep[leave_out] = False
        t = onsets[keep] + rng.normal(0, 0.01, keep.sum())
        order = np.argsort(t, kind="stable")
        out.append(NoteTable.from_arrays(t[order], t[order] + 0.3, pitches[keep][order], np.full(keep.sum(), 64)))
    return out


def test_an_error_most_takes_make_is_a_variant_and_one_takes_slip_is_not():
    score = read_musicxml(MINUET)
    takes = _takes(score, 10, leave_out=20, every=2)  # five of ten leave note 20 out
    takes += _takes(score, 1, leave_out=40, every=1, seed=1)  # one take leaves note 40 out
    variants = learn_variants(score, "sha", takes)
    missed = {(e.kind, e.chord, e.pitch) for e in align(played_score(score), takes[0].onset, takes[0].pitch).errors}
    assert variants.takes == 11 and variants.errors == missed and len(missed) == 1
    assert learn_variants(score, "sha", takes[: MIN_TAKES - 1]).errors == frozenset()


def test_the_command_keeps_each_percepiano_passages_variants_in_the_repertoire(tmp_path):
    root = real_percepiano()
    source = sorted((root / "score_xml").glob("Schubert_D960_mv2_8bars_Score_*.musicxml"))[0]
    repertoire = Repertoire(tmp_path / "repertoire", builtin_dir=None)
    piece = repertoire.add(shutil.copy(source, tmp_path / source.name))
    assert main(["--repertoire", str(repertoire.root), "--data", str(root)]) == 0
    stored = json.loads((repertoire.root / piece.id / VARIANTS_NAME).read_text())
    assert stored["score_sha256"] == piece.sha256 and stored["takes"] >= MIN_TAKES
    assert load_index(repertoire).variants[piece.id].takes == stored["takes"]
