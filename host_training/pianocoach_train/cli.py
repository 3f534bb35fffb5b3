"""Host command line: ``python -m pianocoach_train <group> <command>``.

    python -m pianocoach_train data check [--data PATH] [--json FILE] [--no-midi]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pianocoach.console import add_verbose_flag, run_command
from pianocoach.jsonio import write_json_atomic
from pianocoach_train.settings import PERCEPIANO_ENV, percepiano_root


def _data_check(args: argparse.Namespace) -> int:
    from pianocoach_train.percepiano.check import check_dataset, format_report
    from pianocoach_train.percepiano.dataset import PercePiano

    dataset = PercePiano.open(percepiano_root(args.data))
    report = check_dataset(dataset, read_files=not args.no_midi, progress=sys.stderr.isatty())
    print(format_report(report))
    if args.json:
        write_json_atomic(args.json, report.to_dict())
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pianocoach_train", description="PianoCoach host training")
    add_verbose_flag(parser)
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")

    data = groups.add_parser("data", help="the PercePiano dataset")
    data_commands = data.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = data_commands.add_parser("check", help="counts, label statistics and every problem in the dataset")
    check.add_argument("--data", type=Path, help=f"PercePiano folder (default ${PERCEPIANO_ENV} or ../shared/percepiano)")
    check.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    check.add_argument("--no-midi", action="store_true", help="skip parsing every MIDI file")
    check.set_defaults(run=_data_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv), "pianocoach_train")
