"""The ``pianocoach`` command.

pianocoach features PERFORMANCE.mid [--json]   measure a performance (descriptors with units)
pianocoach settings                            the feature settings and their hash
pianocoach verify-bundle [PATH] [--key FILE]   check a model bundle (default: the installed default bundle)
pianocoach score FILE... [--json] [--bundle PATH] [--language en|zh] [--realtime] [--max-minutes M]
                                               score performances (audio or MIDI) with the bundle's scorer
pianocoach transcribe AUDIO [-o OUT.mid] [--json]   write what the device hears in a recording as MIDI
pianocoach run [--config FILE] [--set SECTION.KEY=VALUE] [--input FILE] [--display KIND]   the appliance
pianocoach history [--last N] [--json]          the performances scored so far
pianocoach install-bundle BUNDLE [--keep N]     verify, health-check and switch to a model bundle
pianocoach rollback                             return to the bundle installed before the current one
pianocoach bundle-status [--json]               the current and the installed bundles
pianocoach repertoire add FILE [--title T] | list [--json] | remove ID   the pieces the device knows
pianocoach jianzipu explain 中七六挑五 [--json] [--tuning standard]   explain a guqin character
pianocoach jianzipu read IMAGE [--column] [--json] [--bundle PATH]  read a character or a column
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from pianocoach import __version__
from pianocoach.console import add_verbose_flag, run_command
from pianocoach.inputs.base import BLOCK_SECONDS
from pianocoach.scoring.limits import FILE_SILENCE_STOP_S

if TYPE_CHECKING:
    from pianocoach.repertoire.identify import RepertoireIndex

log = logging.getLogger(__name__)

# `pianocoach features` describes a clip: the beat tracker's memory grows with the span (about 0.7 MB a
# second) and the phrase dynamics with the square of the chords, so a whole hour is not a clip
FEATURES_MAX_S = 300.0
FEATURES_MAX_NOTES = 5000


def _features(args: argparse.Namespace) -> int:
    from pianocoach.features import DESCRIPTORS, SCORE_DESCRIPTORS, compute_descriptors, read_midi

    table = read_midi(args.performance)
    if table.end - table.start > FEATURES_MAX_S or len(table) > FEATURES_MAX_NOTES:
        from pianocoach.errors import InputFileError

        raise InputFileError(
            args.performance,
            f"{table.end - table.start:.0f} s and {len(table)} notes: descriptors are "
            f"for clips up to {FEATURES_MAX_S:.0f} s and {FEATURES_MAX_NOTES} notes "
            "(score a whole take with `pianocoach score`)",
        )
    values = compute_descriptors(table)
    shown = list(DESCRIPTORS)
    if args.score is not None:
        values |= _score_relative(table, args.score)
        shown += SCORE_DESCRIPTORS
    if args.json:
        print(json.dumps({"file": str(args.performance), "notes": len(table), "descriptors": values}, indent=2))
        return 0
    print(f"{args.performance}: {len(table)} notes, {table.end - table.start:.1f} s")
    width = max(len(d.name) for d in shown)
    for info in shown:
        print(f"  {info.name:<{width}}  {values[info.name]:10.3f}  {info.unit:<13}  {info.doc}")
    return 0


def _score_relative(table, score_path: Path) -> dict[str, float]:
    """The score-relative descriptors of ``table`` aligned with the score in ``score_path`` (as the device does)."""
    from pianocoach.features import score_descriptors
    from pianocoach.repertoire.align import align
    from pianocoach.repertoire.context import score_context
    from pianocoach.repertoire.store import read_score
    from pianocoach.repertoire.unfold import played_score

    alignment = align(played_score(read_score(score_path)), table.onset, table.pitch)
    return score_descriptors(table, score_context(alignment))


def _settings(args: argparse.Namespace) -> int:
    from pianocoach.features import DEFAULT_SETTINGS

    print(json.dumps({"sha256": DEFAULT_SETTINGS.sha256(), "settings": DEFAULT_SETTINGS.to_dict()}, indent=2))
    return 0


def _verify_bundle(args: argparse.Namespace) -> int:
    from pianocoach.bundle import DEFAULT_BUNDLE, verify_bundle
    from pianocoach.bundle.signing import trusted_keys
    from pianocoach.bundle.trust import device_keys

    path = args.bundle or DEFAULT_BUNDLE
    result = verify_bundle(path, trusted_keys(args.key) if args.key else device_keys())
    for problem in result.problems:
        print(f"{path}: {problem}")
    if not result.ok:
        print(
            f"{path}: REFUSED ({len(result.problems)} problem{'s' if len(result.problems) > 1 else ''})",
            file=sys.stderr,
        )
        return 1
    manifest = result.manifest
    assert manifest is not None  # a verification without problems has read the manifest
    models = ", ".join(f"{m.role} ({m.architecture}, {m.precision})" for m in manifest.models)
    print(
        f"{path}: OK: bundle {manifest.bundle_id}, schema {manifest.schema_version}, {len(manifest.files)} files, "
        f"models: {models}"
    )
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from pianocoach.errors import BundleError, PianoCoachError
    from pianocoach.inputs.files import MIDI_SUFFIXES
    from pianocoach.scoring.heard import HearingModels, transcribe_to_midi

    if args.audio.suffix.lower() in MIDI_SUFFIXES:
        print(f"pianocoach: {args.audio}: is MIDI already: transcribe takes a recording", file=sys.stderr)
        return 1
    out = args.out or args.audio.with_suffix(".mid")
    if out.resolve() == args.audio.resolve():
        print(f"pianocoach: {out}: the MIDI file would overwrite the recording", file=sys.stderr)
        return 2
    try:
        from pianocoach.inputs import open_file
        from pianocoach.scoring import BundleScorer

        open_file(args.audio)  # a missing or unreadable recording is told in one line before the bundle loads
        try:
            scorer = BundleScorer(args.bundle, inputs=("audio",))  # verified against the device's keys first
            models = HearingModels(scorer.pedal_model, scorer.velocity_model, scorer.note_end_model)
        except BundleError as exc:
            if args.bundle is not None:  # the bundle asked for is refused: said, nothing written
                raise
            log.warning(
                "no usable bundle (%s): the notes are written without the pedal, heard velocities or heard ends", exc
            )
            models = HearingModels()
        heard = transcribe_to_midi(args.audio, out, models=models)
    except PianoCoachError as exc:
        print(f"pianocoach: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(heard)) if args.json else heard.summary())
    return 0


def _score(args: argparse.Namespace) -> int:
    from pianocoach.errors import PianoCoachError
    from pianocoach.inputs import open_file
    from pianocoach.inputs.files import input_kind
    from pianocoach.scoring import BundleScorer, SessionSettings, score_source, warm_up, write_feedback
    from pianocoach.scoring.limits import TakeLimits
    from pianocoach.terminal_report import format_report

    repertoire = _repertoire_index(args)
    piece_id = args.score.stem if args.score else args.piece
    if piece_id is not None and (repertoire is None or piece_id not in repertoire.scores):
        known = ", ".join(sorted(repertoire.scores)) if repertoire else "none"
        print(f"pianocoach: no piece {piece_id!r} in the repertoire (pieces: {known})", file=sys.stderr)
        return 2
    # verified against the device's keys (a refused bundle stops here); only the models these inputs need stay open
    scorer = BundleScorer(args.bundle, inputs={input_kind(path) for path in args.files})
    settings = SessionSettings(
        block_seconds=args.block_seconds, language=args.language, midi_sends_pedal=args.sends_pedal
    )
    limits = TakeLimits(max_seconds=args.max_minutes * 60, silence_stop_s=args.silence_stop_s)
    failures = 0
    warmed: set[str] = set()
    for path in args.files:
        try:
            source = open_file(path, args.block_seconds, args.realtime)
            if source.kind not in warmed:  # one-off loading stays out of the reported timing
                warm_up(source.kind)
                warmed.add(source.kind)
            result = score_source(source, scorer, settings, limits=limits, repertoire=repertoire, piece_id=piece_id)
        except PianoCoachError as exc:  # one bad file is reported and the rest still get scored
            failures += 1
            if args.json:
                print(json.dumps({"input": str(path), "error": str(exc)}, ensure_ascii=False))
            else:
                print(f"{exc}", file=sys.stderr)
            continue
        result.input = str(path)
        write_feedback(result)  # the templates (the appliance's language model is `pianocoach run`'s)
        if args.json:
            print(json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            print(format_report(result))
    return 1 if failures else 0


def _repertoire_index(args: argparse.Namespace) -> "RepertoireIndex | None":
    """The pieces a take is identified among: ``--score FILE`` alone, else ``--repertoire DIR`` (default: the
    device's, ``<data_dir>/repertoire``) with the built-in pieces; None with ``--no-piece``."""
    from pianocoach.repertoire.identify import RepertoireIndex
    from pianocoach.repertoire.store import Repertoire, load_index, read_score

    if args.no_piece:
        return None
    if args.score:
        return RepertoireIndex({args.score.stem: read_score(args.score)})
    if args.repertoire is None:
        from pianocoach.appliance.config import Config

        return load_index(Repertoire(Config().repertoire_dir()))
    return load_index(Repertoire(args.repertoire))


def _jianzipu_explain(args: argparse.Namespace) -> int:
    from pianocoach.jianzipu import explain, parse

    result = explain(parse(args.character), args.tuning)
    _print_jianzipu(result, args.json)
    return 0


def _jianzipu_read(args: argparse.Namespace) -> int:
    from pianocoach.jianzipu.reader import JianzipuReader

    result = JianzipuReader(args.bundle).read_any(args.image, args.tuning, column=args.column)
    if "characters" in result:  # a column
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            count = len(result["characters"])
            print(f"{args.image}: {count} character{'s' if count != 1 else ''}, top to bottom")
            print(result["line"]["text"])
        return 0
    _print_jianzipu(result, args.json)
    return 0


def _print_jianzipu(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    if result.get("outside"):
        print(f"{result['input']}: not read: {result['said']} (probability {result['outside_probability']:.2f})")
        return
    if not result.get("written"):
        print(f"{result['input']}: no character could be read")
        return
    confidence = (
        f" (confidence {result['confidence']:.2f}{', unsure' if result.get('unsure') else ''})"
        if ("confidence" in result)
        else ""
    )
    pitch = f"{result['note']} {result['frequency_hz']:.1f} Hz" if result.get("frequency_hz") else "pitch not fixed"
    print(f"{result['written']}{confidence}: {pitch}")
    print(f"  {result['explanation_zh']}")
    print(f"  {result['explanation_en']}")
    if "top5" in result:
        print("  top 5: " + ", ".join(f"{t['written']} {t['probability']:.2f}" for t in result["top5"]))


def _bounded(low: float, high: float):
    """An argparse type: a number within [low, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value:g} is not between {low:g} and {high:g}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pianocoach", description="PianoCoach: how did that performance come across?")
    parser.add_argument("--version", action="version", version=f"pianocoach {__version__}")
    add_verbose_flag(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    features = commands.add_parser("features", help="measure a MIDI performance: tempo, timing, dynamics, pedal")
    features.add_argument("performance", type=Path, help="a MIDI file")
    features.add_argument("--json", action="store_true", help="print JSON instead of a table")
    features.add_argument(
        "--score",
        type=Path,
        help="its score (MusicXML or MIDI): add the score-relative descriptors (timing, tempo, "
        "dynamics, articulation and pedal against what is written)",
    )
    features.set_defaults(run=_features)

    settings = commands.add_parser("settings", help="print the feature settings and their hash")
    settings.set_defaults(run=_settings)

    verify = commands.add_parser(
        "verify-bundle", help="check a model bundle's signature, checksums, feature hash and models"
    )
    verify.add_argument(
        "bundle", type=Path, nargs="?", help="bundle folder or .tar (default: the installed default bundle)"
    )
    verify.add_argument(
        "--key",
        type=Path,
        action="append",
        help="trust only this public key file or folder of .pub files (repeatable; default: the "
        "device's trusted keys, /etc/pianocoach/trusted_keys and the packaged ones)",
    )
    verify.set_defaults(run=_verify_bundle)

    score = commands.add_parser("score", help="score performances (WAV/FLAC/MP3 or MIDI) as the appliance does")
    score.add_argument("files", type=Path, nargs="+", help="audio or MIDI files")
    score.add_argument("--json", action="store_true", help="one JSON object per input")
    score.add_argument("--bundle", type=Path, help="model bundle folder (default: the installed default bundle)")
    score.add_argument("--language", choices=("en", "zh"), default="en", help="feedback language (default en)")
    score.add_argument(
        "--block-seconds",
        type=_bounded(0.5, 10.0),
        default=BLOCK_SECONDS,
        help=f"block length in seconds (default {BLOCK_SECONDS:g})",
    )
    score.add_argument("--realtime", action="store_true", help="pace the file as if it were being played live")
    score.add_argument(
        "--sends-pedal",
        action="store_true",
        help="the MIDI came from a piano that sends its sustain pedal: a take without CC64 was played without it "
        "(default: its pedal is unknown, as the appliance's input.midi_sends_pedal)",
    )
    score.add_argument(
        "--max-minutes",
        type=_bounded(0.1, 600.0),
        default=15.0,
        help="a take ends after this long (default 15, as the appliance's input.max_minutes)",
    )
    score.add_argument(
        "--silence-stop-s",
        type=_bounded(0.0, 3600.0),
        default=FILE_SILENCE_STOP_S,
        help=f"a take ends after this long without playing (default {FILE_SILENCE_STOP_S:g}; 0: only at the end)",
    )
    piece = score.add_mutually_exclusive_group()
    piece.add_argument(
        "--repertoire",
        type=Path,
        help="identify each take among the pieces added in this folder "
        "and the built-in ones (default: the device's repertoire, /var/lib/pianocoach/repertoire)",
    )
    piece.add_argument("--score", type=Path, help="compare each take with this score (MusicXML or MIDI)")
    piece.add_argument("--no-piece", action="store_true", help="do not identify the piece (free play)")
    score.add_argument(
        "--piece",
        metavar="ID",
        help="the piece played, by its repertoire id (`pianocoach repertoire list`), not identified",
    )
    score.set_defaults(run=_score)

    from pianocoach.appliance.app import history_command, run_command
    from pianocoach.appliance.config import add_config_flags

    transcribe = commands.add_parser(
        "transcribe",
        help="write what the device hears in a recording as a MIDI file (notes, velocities, the sustain pedal heard)",
    )
    transcribe.add_argument(
        "--bundle", type=Path, help="model bundle whose pedal model hears the pedal (default: the installed bundle)"
    )
    transcribe.add_argument("audio", type=Path, help="a recording (.wav, .flac, .ogg, .mp3)")
    transcribe.add_argument("-o", "--out", type=Path, help="the MIDI file to write (default: AUDIO with .mid)")
    transcribe.add_argument("--json", action="store_true", help="print the summary as JSON")
    transcribe.set_defaults(run=_transcribe)

    run = commands.add_parser("run", help="the appliance: button, display, speech and history around the scorer")
    add_config_flags(run)
    run.add_argument("--input", type=Path, help="replay this recording or MIDI file instead of the configured input")
    run.add_argument(
        "--display", choices=("ssd1306", "st7735", "ili9341", "image", "terminal"), help="override display.kind"
    )
    run.add_argument("--bundle", type=Path, help="override device.bundle")
    run.add_argument("--language", choices=("en", "zh"), help="override device.language")
    run.set_defaults(run=run_command)

    from pianocoach.appliance.bundle_commands import add_bundle_commands

    add_bundle_commands(commands)

    from pianocoach.appliance.repertoire_commands import add_repertoire_commands

    add_repertoire_commands(commands)

    from pianocoach.web.server import add_web_command

    add_web_command(commands)

    history = commands.add_parser("history", help="the performances the appliance has scored, newest first")
    add_config_flags(history)
    history.add_argument("--last", type=int, default=10, help="how many (default 10)")
    history.add_argument("--json", action="store_true", help="one JSON object per performance")
    history.set_defaults(run=history_command)

    jianzipu = commands.add_parser(
        "jianzipu", help="guqin reduced-character notation (减字谱): explain or read a character"
    )
    jianzipu_commands = jianzipu.add_subparsers(dest="jianzipu_command", required=True, metavar="COMMAND")
    explain = jianzipu_commands.add_parser("explain", help="parse and explain a written character, e.g. 中七六挑五")
    explain.add_argument("character", help="the character written out, e.g. 中七六挑五 or 散勾三")
    read = jianzipu_commands.add_parser(
        "read", help="recognise a character (or a column of them) in an image and explain it"
    )
    read.add_argument("image", type=Path, help="an image of one character, or a column (PNG, JPEG, ...)")
    shape = read.add_mutually_exclusive_group()
    shape.add_argument(
        "--column",
        dest="column",
        action="store_true",
        default=None,
        help="characters stacked top to bottom (default: when the image is 2.5 times taller than wide)",
    )
    shape.add_argument("--single", dest="column", action="store_false", help="one character, whatever its shape")
    read.add_argument("--bundle", type=Path, help="model bundle folder (default: the installed default bundle)")
    for sub, handler in ((explain, _jianzipu_explain), (read, _jianzipu_read)):
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.add_argument(
            "--tuning", default="standard", help="tuning for the pitch (standard, ruibin; default standard)"
        )
        sub.set_defaults(run=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["run"]:  # the long-running daemon: flat memory (see the function)
        from pianocoach.appliance.app import reexec_with_malloc_settings

        reexec_with_malloc_settings("pianocoach.cli")
    return run_command(build_parser().parse_args(argv), "pianocoach")


if __name__ == "__main__":
    sys.exit(main())
