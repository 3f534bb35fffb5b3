"""What every PianoCoach command line shares: logging set-up and one-line errors instead of tracebacks."""

from __future__ import annotations

import argparse
import io
import logging
import sys
from contextlib import contextmanager, redirect_stdout

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


@contextmanager
def quiet_root_logger(level: int = logging.ERROR):
    """Silence libraries that log chatty warnings to the root logger while they load or run
    (basic-pitch's package import, onnxruntime.quantization)."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(previous)


@contextmanager
def library_prints_logged():
    """Catch what a library prints while it loads and log it at debug level, so a command's stdout (JSON
    lines) and stderr (one-line errors) stay clean.

    pyfluidsynth 1.4 prints "'fluidsynth' was found at ..." on import when the CI environment variable is
    set, and pretty_midi (so basic-pitch too) imports it whenever it is installed.
    """
    caught = io.StringIO()
    try:
        with redirect_stdout(caught):
            yield
    finally:
        for line in caught.getvalue().splitlines():
            logging.getLogger(__name__).debug("library output: %s", line)
