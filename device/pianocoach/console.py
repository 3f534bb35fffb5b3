"""What every PianoCoach command line shares: logging set-up and one-line errors instead of tracebacks."""

from __future__ import annotations

import argparse
import logging
import sys

from pianocoach.errors import PianoCoachError


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def run_command(args: argparse.Namespace, prog: str) -> int:
    """Run ``args.run(args)``; a :class:`PianoCoachError` becomes ``"<prog>: error: <message>"`` and exit 2."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.run(args)
    except PianoCoachError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
