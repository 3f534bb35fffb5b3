"""Host command line: ``python -m pianocoach_train <command>``.

python -m pianocoach_train data check [--data PATH] [--json FILE] [--no-midi]
python -m pianocoach_train eval --model blend [--splits performer,piece,work,random] [--quick]
python -m pianocoach_train report reports/eval/<run>.json     (redraw table and chart)
python -m pianocoach_train release --model blend [--out DIR]
python -m pianocoach_train jianzipu train [--variant all|VARIANT]   (real, mixed, renders, composites, woodblock, ...)
python -m pianocoach_train jianzipu real-data | woodblock | qa [--out FILE] [--count N]
python -m pianocoach_train audio render [--soundfonts a,b] [--seed N]
python -m pianocoach_train audio eval [--models pc_fcn,m_crnn,hybrid] [--splits ...]
python -m pianocoach_train audio release [--models m_crnn,transcription | --chosen]
python -m pianocoach_train llm data | tiny | finetune --config FILE | musicpile-subset   (see llm/cli.py)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pianocoach.cli_args import choice_list, split_list
from pianocoach.console import add_verbose_flag, run_command
from pianocoach.jsonio import write_json_atomic
from pianocoach_train.audio.soundfonts import HELD_OUT, TRAINING
from pianocoach_train.llm.cli import add_llm_commands
from pianocoach_train.paths import PERCEPIANO_ENV, REPO_ROOT, percepiano_root


def _data_check(args: argparse.Namespace) -> int:
    from pianocoach_train.percepiano.check import check_dataset, format_report
    from pianocoach_train.percepiano.dataset import PercePiano

    dataset = PercePiano.open(percepiano_root(args.data))
    report = check_dataset(dataset, read_files=not args.no_midi, progress=sys.stderr.isatty())
    print(format_report(report))
    if args.json:
        write_json_atomic(args.json, report.to_dict())
    return 0 if report.ok else 1


def _config(args: argparse.Namespace):
    from pianocoach_train.train_config import TrainConfig

    overrides = {"model": args.model, "seed": args.seed, "epochs": args.epochs}
    if args.no_augment:
        overrides["augment"] = False
    return TrainConfig().with_overrides(**overrides)


def _store(args: argparse.Namespace):
    from pianocoach_train.feature_store import FeatureStore
    from pianocoach_train.percepiano.dataset import PercePiano

    return FeatureStore(PercePiano.open(percepiano_root(args.data)))


def _eval(args: argparse.Namespace) -> int:
    from pianocoach_train.eval_report import write_report
    from pianocoach_train.evaluation import evaluate
    from pianocoach_train.explain import add_explanations
    from pianocoach_train.runs import artifacts_dir

    config = _config(args)
    splits = args.splits
    folds = None
    if args.quick:
        splits, folds = ("performer",), (0,)
        config = config.with_overrides(epochs=min(config.epochs, 20))
    run = args.run_name or (config.model + ("-quick" if args.quick else "") + ("-noaug" if not config.augment else ""))
    store = _store(args)
    report = evaluate(config, store, splits, artifacts_dir() / "runs" / run, folds, progress=sys.stderr.isatty())
    add_explanations(report, store, args.out, run)
    paths = write_report(report, args.out, run)
    print(paths["markdown"].read_text(encoding="utf-8"))
    print(f"report: {paths['json']} ({paths['markdown'].name}, {paths['chart'].name})")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pianocoach.errors import InputFileError
    from pianocoach.jsonio import read_json
    from pianocoach_train.eval_report import write_report

    report = read_json(args.report, what="evaluation report")
    if not isinstance(report, dict) or "splits" not in report:
        raise InputFileError(args.report, "not an evaluation report (no 'splits')")
    paths = write_report(report, args.report.parent, args.report.stem)
    print(f"rewrote {paths['markdown']} and {paths['chart']}")
    return 0


def _release(args: argparse.Namespace) -> int:
    from pianocoach_train.release import train_release

    out = train_release(_config(args), _store(args), args.out, progress=sys.stderr.isatty())
    print(f"release model: {out}")
    return 0


def _jianzipu_train(args: argparse.Namespace) -> int:
    from pianocoach_train.jianzipu.train import VARIANTS, train_reader

    for variant in VARIANTS if args.variant == "all" else (args.variant,):
        print(f"jianzipu reader ({variant}): {train_reader(variant, progress=sys.stderr.isatty(), root=args.data)}")
    return 0


def _jianzipu_real_data(args: argparse.Namespace) -> int:
    from pianocoach_train.jianzipu.real_crops import write_real_data_report

    paths = write_real_data_report(args.report_dir, args.data)
    print(paths["markdown"].read_text(encoding="utf-8"))
    print(f"report: {paths['markdown']} ({paths['json'].name})")
    return 0


def _jianzipu_woodblock(args: argparse.Namespace) -> int:
    from pianocoach_train.jianzipu.woodblock_report import write_woodblock_report

    paths = write_woodblock_report(args.report_dir, args.data)
    print(paths["markdown"].read_text(encoding="utf-8"))
    print(f"report: {paths['markdown']} ({paths['json'].name}, {paths['plot'].name})")
    return 0


def _jianzipu_qa(args: argparse.Namespace) -> int:
    from collections import Counter

    from pianocoach_train.jianzipu.qa import build_turns, write_jsonl

    rows = build_turns(args.count, args.seed or 0)
    path = write_jsonl(rows, args.out)
    kinds = Counter(row["kind"] for row in rows)
    print(f"{path}: {len(rows)} turns ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    return 0


def _audio_render(args: argparse.Namespace) -> int:
    from pianocoach_train.audio.renders import cache_root, render_soundfont
    from pianocoach_train.audio.soundfonts import SOUNDFONTS
    from pianocoach_train.percepiano.dataset import PercePiano

    dataset = PercePiano.open(percepiano_root(args.data))
    for name in args.soundfonts:
        if name not in SOUNDFONTS:
            raise SystemExit(f"unknown soundfont {name!r} (known: {', '.join(SOUNDFONTS)})")
        manifest = render_soundfont(name, dataset.midi_files, seed=args.seed, transcribe=name in args.transcribe)
        blocks = sum(r["blocks"] for r in manifest["renders"].values())
        print(f"{name}: {len(manifest['renders'])} performances, {blocks} blocks -> {cache_root() / name}")
    return 0


def _audio_eval(args: argparse.Namespace) -> int:
    from pianocoach_train.audio.evaluate import run_audio_eval

    print(run_audio_eval(args.models, args.splits, args.out, data=args.data, quick=args.quick))
    return 0


def _audio_release(args: argparse.Namespace) -> int:
    from pianocoach_train.audio.evaluate import train_audio_release
    from pianocoach_train.audio.path_choice import EVAL_REPORT, choose_audio_path, release_models

    models = release_models(choose_audio_path()) if args.chosen else args.models
    if args.chosen and not models:
        print(f"no audio evaluation yet ({EVAL_REPORT}; make eval-audio): no audio path to train")
    for model in models:
        print(f"release model: {train_audio_release(model, args.data, progress=sys.stderr.isatty())}")
    return 0


def _split_list(text: str) -> tuple[str, ...]:
    from pianocoach_train.evaluation import SPLITS

    return choice_list(SPLITS, "split")(text)


def _add_training_flags(parser: argparse.ArgumentParser, default_model: str = "blend") -> None:
    from pianocoach_train.models import MODEL_NAMES

    parser.add_argument(
        "--model", default=default_model, choices=MODEL_NAMES, help=f"which scorer (default {default_model})"
    )
    parser.add_argument(
        "--data", type=Path, help=f"PercePiano folder (default ${PERCEPIANO_ENV} or ../shared/percepiano)"
    )
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--epochs", type=int, help="maximum epochs for torch models")
    parser.add_argument("--no-augment", action="store_true", help="train without the MIDI augmentation")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pianocoach_train", description="PianoCoach host training")
    add_verbose_flag(parser)
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")

    data = groups.add_parser("data", help="the PercePiano dataset")
    data_commands = data.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = data_commands.add_parser("check", help="counts, label statistics and every problem in the dataset")
    check.add_argument(
        "--data", type=Path, help=f"PercePiano folder (default ${PERCEPIANO_ENV} or ../shared/percepiano)"
    )
    check.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    check.add_argument("--no-midi", action="store_true", help="skip parsing every MIDI file")
    check.set_defaults(run=_data_check)

    evaluation = groups.add_parser("eval", help="train and score one model per fold of each split; write a report")
    _add_training_flags(evaluation)
    evaluation.add_argument(
        "--splits",
        type=_split_list,
        default="performer,piece,work,random",
        help="comma-separated splits (performer, piece, work, random)",
    )
    evaluation.add_argument(
        "--quick", action="store_true", help="smoke run: performer split, fold 0, at most 20 epochs"
    )
    evaluation.add_argument("--run", dest="run_name", help="run name (default: the model name)")
    evaluation.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "eval", help="report folder")
    evaluation.set_defaults(run=_eval)

    report = groups.add_parser("report", help="redraw the markdown table and chart of a saved evaluation report")
    report.add_argument("report", type=Path, help="reports/eval/<run>.json")
    report.set_defaults(run=_report)

    release = groups.add_parser("release", help="train the default model on the performer split minus its test list")
    _add_training_flags(release)
    release.add_argument("--out", type=Path, help="output folder (default artifacts/release/<model>)")
    release.set_defaults(run=_release)

    jianzipu = groups.add_parser("jianzipu", help="guqin jianzipu: train the image reader, make Q&A data")
    jianzipu_commands = jianzipu.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = jianzipu_commands.add_parser(
        "train", help="train the reader on the real crops and renders (every variant, or one)"
    )
    train.add_argument(
        "--variant",
        # the variants of pianocoach_train.jianzipu.train.VARIANTS (not imported here: it loads torch)
        choices=("all", "real", "mixed", "renders", "composites", "woodblock", "composites-woodblock", "blend"),
        default="all",
    )
    train.add_argument("--data", type=Path, help="the guqin data folder (default $PIANOCOACH_GUQIN or ../shared/guqin)")
    train.set_defaults(run=_jianzipu_train)
    real = jianzipu_commands.add_parser(
        "real-data", help="parse the real crops' labels into the reader's parts: what maps, what does not, the split"
    )
    real.add_argument("--data", type=Path, help="the guqin data folder (default $PIANOCOACH_GUQIN or ../shared/guqin)")
    real.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports" / "jianzipu")
    real.set_defaults(run=_jianzipu_real_data)
    wood = jianzipu_commands.add_parser(
        "woodblock", help="the woodblock renderer: the layouts it learned, its characters beside the real ones"
    )
    wood.add_argument("--data", type=Path, help="the guqin data folder (default $PIANOCOACH_GUQIN or ../shared/guqin)")
    wood.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports" / "jianzipu")
    wood.set_defaults(run=_jianzipu_woodblock)
    qa = jianzipu_commands.add_parser("qa", help="question-and-answer turns for the feedback language model (JSONL)")
    qa.add_argument("--out", type=Path, default=REPO_ROOT / "artifacts" / "llm" / "jianzipu_qa.jsonl")
    qa.add_argument("--count", type=int, default=2000, help="character questions (besides one per component)")
    qa.add_argument("--seed", type=int, help="random seed (default 0)")
    qa.set_defaults(run=_jianzipu_qa)

    add_llm_commands(groups)

    audio = groups.add_parser("audio", help="audio scorers: render PercePiano, train and compare the audio models")
    audio_commands = audio.add_subparsers(dest="command", required=True, metavar="COMMAND")
    render = audio_commands.add_parser("render", help="render every performance through the soundfonts (cached)")
    render.add_argument(
        "--data", type=Path, help=f"PercePiano folder (default ${PERCEPIANO_ENV} or ../shared/percepiano)"
    )
    render.add_argument(
        "--soundfonts",
        type=split_list,
        default=",".join((HELD_OUT, *TRAINING)),
        help="comma-separated soundfonts (the held-out one renders clean test audio)",
    )
    render.add_argument(
        "--transcribe",
        type=split_list,
        default=",".join((HELD_OUT, *TRAINING)),
        help="soundfonts whose renders are also transcribed (the transcription path)",
    )
    render.add_argument("--seed", type=int, default=0, help="augmentation seed (default 0)")
    render.set_defaults(run=_audio_render)
    audio_eval = audio_commands.add_parser("eval", help="train and compare the audio scorers; README table")
    audio_eval.add_argument(
        "--data", type=Path, help=f"PercePiano folder (default ${PERCEPIANO_ENV} or ../shared/percepiano)"
    )
    audio_eval.add_argument(
        "--models",
        type=split_list,
        default="transcription,transcription_heard_pedal,transcription_heard_velocity,pc_fcn,m_crnn,hybrid",
    )
    audio_eval.add_argument("--splits", type=_split_list, default="performer,piece,work")
    audio_eval.add_argument("--quick", action="store_true", help="smoke run: performer split, fold 0, few epochs")
    audio_eval.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "audio", help="report folder")
    audio_eval.set_defaults(run=_audio_eval)
    audio_release = audio_commands.add_parser(
        "release", help="train release audio models (performer split minus its test list)"
    )
    audio_release.add_argument(
        "--data", type=Path, help=f"PercePiano folder (default ${PERCEPIANO_ENV} or ../shared/percepiano)"
    )
    audio_release.add_argument("--models", type=split_list, default="m_crnn,transcription")
    audio_release.add_argument(
        "--chosen",
        action="store_true",
        help="instead: the models of the audio path make eval-audio chose (what make bundle ships)",
    )
    audio_release.set_defaults(run=_audio_release)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv), "pianocoach_train")
