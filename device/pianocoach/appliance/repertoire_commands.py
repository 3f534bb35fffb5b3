"""``pianocoach repertoire add|list|remove``: the pieces the device knows (built-in demo pieces and the scores a
user added under ``device.repertoire``, by default ``<data_dir>/repertoire``)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from pianocoach.appliance.config import add_config_flags, config_from_args
from pianocoach.errors import PianoCoachError
from pianocoach.repertoire.store import Piece, Repertoire, RepertoireError


def _repertoire(args: argparse.Namespace) -> Repertoire:
    return Repertoire(config_from_args(args).repertoire_dir())


def add_command(args: argparse.Namespace) -> int:
    """Each file is added or refused on its own (one line each); the exit status is 1 when any was refused."""
    if args.title and len(args.files) > 1:
        raise RepertoireError("--title names one piece: give one file with it")
    repertoire, refused = _repertoire(args), 0
    for path in args.files:
        try:
            if (held := repertoire.holding(path)) is not None:
                print(f"already in the repertoire: {held.id} ({path})")
                continue
            piece = repertoire.add(path, path.stem if args.title_from_file else args.title)
        except PianoCoachError as exc:
            refused += 1
            print(f"{exc}", file=sys.stderr)
            continue
        print(f"added {piece.id}: {piece.title} ({piece.notes} notes, {piece.bars} bars)")
    return 1 if refused else 0


def list_command(args: argparse.Namespace) -> int:
    pieces = _repertoire(args).pieces()
    if args.json:
        for piece in pieces:
            print(json.dumps(asdict(piece), ensure_ascii=False))
    else:
        print(format_pieces(pieces))
    return 0


def remove_command(args: argparse.Namespace) -> int:
    piece = _repertoire(args).remove(args.piece)
    print(f"removed {piece.id}: {piece.title}")
    return 0


def format_pieces(pieces: list[Piece]) -> str:
    if not pieces:
        return "the repertoire is empty (add a score: pianocoach repertoire add FILE.musicxml)"
    width = max(len(p.id) for p in pieces)
    lines = [f"{'id':<{width}}  {'bars':>4}  {'notes':>5}  title"]
    for p in pieces:
        composer = f" ({p.composer})" if p.composer else ""
        lines.append(
            f"{p.id:<{width}}  {p.bars:>4}  {p.notes:>5}  {p.title}{composer}{'  [built-in]' if p.builtin else ''}"
        )
    return "\n".join(lines)


def add_repertoire_commands(commands: argparse._SubParsersAction) -> None:
    repertoire = commands.add_parser("repertoire", help="the pieces the device knows: add, list or remove scores")
    actions = repertoire.add_subparsers(dest="repertoire_command", required=True, metavar="COMMAND")
    add = actions.add_parser("add", help="add scores (MusicXML .musicxml/.mxl or MIDI .mid)")
    add.add_argument("files", type=Path, nargs="+", metavar="FILE", help="score files")
    add.add_argument("--title", help="the title to show (one file; default: the score's own, else the file name)")
    add.add_argument(
        "--title-from-file",
        action="store_true",
        help="title each piece with its file name (excerpts of one work share the work's title)",
    )
    add.set_defaults(run=add_command)
    listing = actions.add_parser("list", help="the pieces, built-in ones included")
    listing.add_argument("--json", action="store_true", help="one JSON object per piece")
    listing.set_defaults(run=list_command)
    remove = actions.add_parser("remove", help="remove an added piece")
    remove.add_argument("piece", help="its id (see `pianocoach repertoire list`)")
    remove.set_defaults(run=remove_command)
    for sub in (add, listing, remove):
        add_config_flags(sub)
