"""Learn how skilled pianists commonly play each PercePiano passage otherwise than its edition, and keep it in a
device repertoire (``variants.json`` beside each piece; see ``pianocoach.repertoire.variants``).

Each piece of the repertoire whose score file is one of PercePiano's passages (``make repertoire-percepiano``
adds them) learns from that passage's performances, leaving out the test list of ``--split`` (default: the
performer split, so the listener check in ``make eval-fundamentals`` scores takes the variants never saw).

    python -m pianocoach_train.score_variants [--repertoire DIR] [--data PATH] [--split performer]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from pianocoach.console import add_verbose_flag, run_command
from pianocoach.features import NoteTable, read_midi
from pianocoach.repertoire.align import align
from pianocoach.repertoire.fundamentals import chord_steps
from pianocoach.repertoire.musicxml import read_musicxml
from pianocoach.repertoire.score import Score
from pianocoach.repertoire.unfold import played_score
from pianocoach.repertoire.variants import COMMON_SHARE, MIN_TAKES, ScoreVariants
from pianocoach_train.paths import percepiano_root
from pianocoach_train.percepiano import PercePiano
from pianocoach_train.percepiano.ids import parse_id
from pianocoach_train.percepiano.passages import passage_key, passage_paths

log = logging.getLogger(__name__)


def learn_variants(score: Score, score_sha256: str, takes: list[NoteTable]) -> ScoreVariants:
    """The errors (kind, chord, pitch) and the pauses (chords a stop lands on) that at least ``COMMON_SHARE`` of
    ``takes`` make, each counted once a take; none from fewer than ``MIN_TAKES`` takes."""
    if len(takes) < MIN_TAKES:
        return ScoreVariants(score_sha256, len(takes), frozenset(), frozenset())
    played = played_score(score)
    errors: Counter = Counter()
    pauses: Counter = Counter()
    for table in takes:
        alignment = align(played, table.onset, table.pitch)
        errors.update({(e.kind, e.chord, e.pitch) for e in alignment.errors if e.chord >= 0})
        pauses.update({step.chord for step in chord_steps(alignment) if step.is_stop})
    need = COMMON_SHARE * len(takes)
    return ScoreVariants(
        score_sha256,
        len(takes),
        frozenset(e for e, n in errors.items() if n >= need),
        frozenset(c for c, n in pauses.items() if n >= need),
    )


def passage_takes(dataset: PercePiano, split: str) -> dict[str, list[str]]:
    """The performances of each passage (by passage key), score renders and ``split``'s test list left out."""
    test = set(dataset.split(split).test)
    out: dict[str, list[str]] = {}
    for raw in sorted(dataset.midi_files):
        ident = parse_id(raw)
        if raw not in test and not ident.is_score_render:
            out.setdefault(passage_key(ident), []).append(raw)
    return out


def passage_variants(root: Path, split: str = "performer", digests: set[str] | None = None) -> dict[str, ScoreVariants]:
    """Each PercePiano passage's variants (of the score files with these sha256 ``digests``, default all), by
    passage key, learned from its performances outside ``split``'s test list; passages whose score files are the
    same bytes learn together (from all their performances)."""
    dataset = PercePiano.open(root)
    takes = passage_takes(dataset, split)
    by_digest: dict[str, list[tuple[str, Path]]] = {}
    for key, path in passage_paths(root).items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digests is None or digest in digests:
            by_digest.setdefault(digest, []).append((key, path))
    out = {}
    for digest, passages in tqdm(by_digest.items(), desc="variants", unit="score"):
        raws = [raw for key, _ in passages for raw in takes.get(key, [])]
        variants = learn_variants(
            read_musicxml(passages[0][1]), digest, [read_midi(dataset.midi_files[r]) for r in raws]
        )
        out.update({key: variants for key, _ in passages})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repertoire", type=Path, help="the repertoire folder (default: the device's, from its config)"
    )
    parser.add_argument(
        "--data", type=Path, help="PercePiano (default: $PIANOCOACH_PERCEPIANO or ../shared/percepiano)"
    )
    parser.add_argument("--split", default="performer", help="its test list is left out (default: performer)")
    add_verbose_flag(parser)
    parser.set_defaults(run=_run)
    return run_command(parser.parse_args(argv), parser.prog)


def _run(args: argparse.Namespace) -> int:
    from pianocoach.appliance.config import Config
    from pianocoach.repertoire.store import Repertoire

    root = percepiano_root(args.data)
    repertoire = Repertoire(args.repertoire or Config().repertoire_dir())
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in passage_paths(root).values()}
    pieces = [p for p in repertoire.pieces() if p.sha256 in digests and not p.builtin]
    if not pieces:
        log.warning(
            "%s: no PercePiano passage in this repertoire (`make repertoire-percepiano` adds them)", repertoire.root
        )
        return 0
    found = {p.sha256 for p in pieces}
    learned = {v.score_sha256: v for v in passage_variants(root, args.split, found).values()}
    for piece in pieces:
        repertoire.set_variants(piece.id, learned[piece.sha256])
    kept = sum(bool(learned[p.sha256].errors or learned[p.sha256].pauses) for p in pieces)
    log.info("variants kept for %d of %d pieces in %s", kept, len(pieces), repertoire.root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
