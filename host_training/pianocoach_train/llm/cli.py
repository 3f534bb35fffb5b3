"""``python -m pianocoach_train llm ...``: instruction data, the tiny test model, fine-tuning, MusicPile subsets.

python -m pianocoach_train llm data [--limit N] [--musicpile FILE] [--sources a,b] [--out DIR]
python -m pianocoach_train llm tiny [--out DIR] [--data DIR]
python -m pianocoach_train llm finetune --config host_training/llm_configs/pi-0.5b.toml [--set section.key=value]
python -m pianocoach_train llm musicpile-subset --input FILE --size N --out FILE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pianocoach.cli_args import split_list
from pianocoach_train.llm.records import SOURCES
from pianocoach_train.paths import PERCEPIANO_ENV, REPO_ROOT, percepiano_root

LLM_DIR = REPO_ROOT / "artifacts" / "llm"


def _data(args: argparse.Namespace) -> int:
    from pianocoach_train.llm.data import BuildOptions, build_instruction_data

    options = BuildOptions(
        percepiano_root(args.data),
        args.out,
        args.sources,
        args.validation,
        args.limit,
        args.musicpile,
        args.musicpile_size,
        progress=sys.stderr.isatty(),
    )
    stats = build_instruction_data(options)
    for source, counts in stats["sources"].items():
        print(f"{source:20s} train {counts['train']:6d}  validation {counts['validation']:5d}")
    if "comments" in stats:
        c = stats["comments"]
        print(
            f"rater comments: {c['with_message']} with text; dropped {c['empty']} empty and {c['survey']} about the "
            f"survey; "
            f"{c['kept']} kept ({c['used']} used here, {c['naming_an_aspect']} naming an aspect)"
        )
    print(f"{args.out}: train.jsonl, validation.jsonl, stats.json, DATA_CARD.md")
    return 0


def _tiny(args: argparse.Namespace) -> int:
    from pianocoach_train.llm.records import read_records
    from pianocoach_train.llm.tiny import DEFAULT_TEXT, build_tiny_model

    train = args.data / "train.jsonl"
    texts = (
        [m["content"] for r in read_records(train) for m in r.messages]
        + [r.text for r in read_records(train) if r.text]
        if train.is_file()
        else list(DEFAULT_TEXT)
    )
    print(f"tiny model: {build_tiny_model(args.out, texts)} (tokenizer trained on {len(texts)} texts)")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from pianocoach.appliance.config import parse_assignments
    from pianocoach_train.llm.finetune import describe, finetune
    from pianocoach_train.llm.finetune_config import load_finetune_config

    overrides = parse_assignments(args.set or [])
    print(describe(finetune(load_finetune_config(args.config, overrides), progress=sys.stderr.isatty())))
    return 0


def _subset(args: argparse.Namespace) -> int:
    from pianocoach_train.llm.musicpile import make_subset, write_subset

    records = make_subset(args.input, args.size, args.seed, piano_only=not args.all_topics)
    print(f"{write_subset(records, args.out)}: {len(records)} rows")
    return 0


def add_llm_commands(groups) -> None:
    llm = groups.add_parser("llm", help="the feedback language model: instruction data, tiny test model, fine-tuning")
    commands = llm.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser(
        "data", help="build the instruction data (JSONL, split by performance) and its data card"
    )
    data.add_argument(
        "--data", type=Path, help=f"PercePiano folder (default ${PERCEPIANO_ENV} or ../shared/percepiano)"
    )
    data.add_argument("--out", type=Path, default=LLM_DIR / "data")
    data.add_argument(
        "--sources",
        type=split_list,
        default=("percepiano_comment", "percepiano_template", "jianzipu", "musicpile"),
        help=f"comma-separated, from {', '.join(SOURCES)}",
    )
    data.add_argument(
        "--validation", type=float, default=0.1, help="fraction of performances for validation (default 0.1)"
    )
    data.add_argument("--limit", type=int, default=0, help="only this many performances (a smoke run)")
    data.add_argument("--musicpile", type=Path, help="a local MusicPile-format .jsonl or .parquet (general music text)")
    data.add_argument("--musicpile-size", type=int, default=2000, help="rows drawn from it (default 2000)")
    data.set_defaults(run=_data)

    tiny = commands.add_parser("tiny", help="build the tiny local Llama-style model (tests, make bench-llm)")
    tiny.add_argument("--out", type=Path, default=LLM_DIR / "tiny-base")
    tiny.add_argument(
        "--data", type=Path, default=LLM_DIR / "data", help="instruction data whose text trains the tokenizer"
    )
    tiny.set_defaults(run=_tiny)

    finetune = commands.add_parser(
        "finetune", help="LoRA / QLoRA fine-tuning from a TOML config (host_training/llm_configs/)"
    )
    finetune.add_argument("--config", type=Path, required=True)
    finetune.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value")
    finetune.set_defaults(run=_finetune)

    subset = commands.add_parser("musicpile-subset", help="draw a reproducible subset of a local MusicPile file")
    subset.add_argument("--input", type=Path, required=True)
    subset.add_argument("--size", type=int, default=2000)
    subset.add_argument("--seed", type=int, default=0)
    subset.add_argument("--all-topics", action="store_true", help="keep rows that mention no piano-teaching word too")
    subset.add_argument("--out", type=Path, default=LLM_DIR / "musicpile_subset.jsonl")
    subset.set_defaults(run=_subset)
