"""Export command line: ``python -m pianocoach_export <command>``.

    python -m pianocoach_export export [--models blend,mlp,...] [--key FILE]   ONNX, parity, INT8, figures, bundle
    python -m pianocoach_export bundle --default [--reader keep|train] [--audio keep|train]
                                                                             rebuild the committed default bundle
    python -m pianocoach_export audio-report                                 INT8 size/latency, audio comparison table
    python -m pianocoach_export jianzipu                                     export and evaluate the jianzipu reader
    python -m pianocoach_export llm --run DIR [--quant Q4_K_M]               fine-tuned LLM -> GGUF -> bundle
    python -m pianocoach_export bench-llm                                    tiny LLM speed and feedback relevance
    python -m pianocoach_export flash --host user@device | --inventory FILE  install a bundle on devices over SSH
    python -m pianocoach_export keygen --name NAME                           make an Ed25519 signing key pair

Only argument parsing and printing live here: the bundles are put together by
:mod:`pianocoach_export.bundle_assembly`, which trains nothing (the Makefile's ``export`` and ``bundle``
targets train what is missing first).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pianocoach.cli_args import choice_list
from pianocoach.console import add_verbose_flag, run_command
from pianocoach_train.paths import PERCEPIANO_ENV, REPO_ROOT, percepiano_root


def _models(text: str) -> tuple[str, ...]:
    from pianocoach_train.models import MODEL_NAMES

    return choice_list(MODEL_NAMES, "model")(text)


def _store(args: argparse.Namespace):
    from pianocoach_train.feature_store import FeatureStore
    from pianocoach_train.percepiano.dataset import PercePiano

    return FeatureStore(PercePiano.open(percepiano_root(args.data)))


def _export(args: argparse.Namespace) -> int:
    from pianocoach_export.bundle_assembly import assemble_export

    made = assemble_export(
        args.models,
        _store(args),
        args.key,
        not args.no_prune,
        args.report_dir,
        args.report_name,
        progress=sys.stderr.isatty(),
    )
    print(made.report["markdown"].read_text(encoding="utf-8"))
    print(f"report: {made.report['markdown']} ({made.report['json'].name})")
    print(
        f"bundle: {made.out} and {made.out.with_suffix('.tar')} ({made.results[0].model}, {made.scorer.precision}; "
        "jianzipu reader, int8); verified"
    )
    return 0


def _default_bundle(args: argparse.Namespace) -> int:
    from pianocoach_export.bundle_assembly import assemble_default_bundle

    made = assemble_default_bundle(
        args.model, lambda: _store(args), args.key, args.reader, args.audio, progress=sys.stderr.isatty()
    )
    result, scorer = made.result, made.scorer
    size = sum(p.stat().st_size for p in made.path.rglob("*") if p.is_file())
    top1 = made.reader.metrics["int8"]["real_validation_pages"]["exact_top1"]
    print(
        f"default bundle: {made.path} ({size / 1e6:.2f} MB; {result.model}, {scorer.precision}; "
        f"R² {result.float['r2']:.3f} float / {result.int8['r2'] if result.int8 else '—'} int8 on the performer test "
        f"list; "
        f"jianzipu reader int8, top-1 {top1:.3f} on the real validation pages)"
    )
    if made.audio_path:
        print(
            f"audio input: {made.audio_path['mode']} "
            f"({', '.join(m.role + ' ' + m.architecture + ' ' + m.precision for m in made.audio)})"
        )
    else:
        print("audio input: no audio evaluation yet (make eval-audio); microphone scores stay provisional")
    print(f"archive: {made.tar_path}")
    return 0


def _sound_check(args: argparse.Namespace) -> int:
    from pianocoach_export.sound_check_export import add_to_default_bundle, trained_sound_check

    folder = add_to_default_bundle(args.key)
    metrics = trained_sound_check().metrics
    print(
        f"default bundle: {folder} now checks that a microphone take sounds like a piano (refused when it sounds "
        f"held, like speech or like noise above {metrics['refuse_above']} or like a piano below "
        f"{metrics['refuse_piano_below']}, warned when p(piano) < {metrics['warn_below']}); the other models are "
        "unchanged"
    )
    return 0


def _pedal(args: argparse.Namespace) -> int:
    from pianocoach_export.pedal_export import add_to_default_bundle, trained_pedal_model

    folder = add_to_default_bundle(args.key)
    test = trained_pedal_model().metrics.get("test", {})
    print(
        f"default bundle: {folder} now hears the sustain pedal in microphone takes (held-out-soundfont renders: frame "
        f"F1 {test.get('clean_frame_f1')} clean, {test.get('room_frame_f1')} in a room); the other models are unchanged"
    )
    return 0


def _velocity(args: argparse.Namespace) -> int:
    from pianocoach_export.velocity_export import add_to_default_bundle, trained_velocity_model

    folder = add_to_default_bundle(args.key)
    test = trained_velocity_model().metrics.get("test", {})
    print(
        f"default bundle: {folder} now hears the key velocities of microphone takes (held-out-soundfont renders: MAE "
        f"{test.get('mae')}, r {test.get('r')}); the other models are unchanged"
    )
    return 0


def _note_end(args: argparse.Namespace) -> int:
    from pianocoach_export.note_end_export import add_to_default_bundle, trained_note_end_model

    folder = add_to_default_bundle(args.key)
    test = trained_note_end_model().metrics.get("test", {})
    print(
        f"default bundle: {folder} now hears when the notes of microphone takes end (held-out-soundfont renders: "
        f"note-with-offset F1 {test.get('offset_f1')}, {test.get('offset_f1_heard')} with the transcriber's own ends); "
        "the other models are unchanged"
    )
    return 0


def _transcription(args: argparse.Namespace) -> int:
    import sys

    from pianocoach_export.transcription_export import add_to_default_bundle

    folder, models = add_to_default_bundle(args.key, progress=sys.stderr.isatty())
    scorer = models[0]
    print(
        f"default bundle: {folder} now scores microphone takes with a transcription scorer that learned from the key "
        f"velocities heard in them (velocity model {scorer.metrics['heard_velocity']['velocity_sha256'][:12]}, "
        f"{scorer.precision}); replaced: {', '.join(m.role for m in models)}; the other models are unchanged"
    )
    return 0


def _audio_report(args: argparse.Namespace) -> int:
    """INT8 size and latency of each audio model (performer fold 0), then the comparison table."""
    from pianocoach.jsonio import read_json
    from pianocoach_export.audio_comparison import write_audio_report
    from pianocoach_export.audio_export import export_audio_model
    from pianocoach_train.audio.evaluate import AudioEvaluation
    from pianocoach_train.audio.models import ARCHITECTURES
    from pianocoach_train.percepiano.dataset import PercePiano
    from pianocoach_train.runs import artifacts_dir

    evaluation = AudioEvaluation(PercePiano.open(percepiano_root(args.data)), sys.stderr.isatty())
    exports = {}
    for name in ARCHITECTURES:
        run_dir = artifacts_dir() / "runs" / "audio" / name / "performer" / "fold_0"
        if (run_dir / "model.pt").is_file():
            result = export_audio_model(
                name,
                evaluation.held_out,
                evaluation.training_sets[0],
                evaluation.labels,
                artifacts_dir() / "export" / f"audio_eval_{name}",
                run_dir,
            )
            exports[name] = result.to_dict()
    blend = artifacts_dir() / "export" / "blend" / "export.json"
    path = write_audio_report(exports, read_json(blend) if blend.is_file() else None)
    print(path.read_text(encoding="utf-8"))
    print(f"report: {path}")
    return 0


def _jianzipu(args: argparse.Namespace) -> int:
    from pianocoach_export.jianzipu_export import export_reader, write_report

    paths = write_report(export_reader(progress=sys.stderr.isatty()), args.report_dir)
    print(paths["markdown"].read_text(encoding="utf-8"))
    print(f"report: {paths['markdown']} ({paths['json'].name}, {paths['plot'].name})")
    if args.bundle:
        from pianocoach_export.jianzipu_export import add_to_default_bundle

        print(f"default bundle: {add_to_default_bundle(args.key, progress=sys.stderr.isatty())} (new jianzipu reader)")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from pianocoach.bundle.signing import load_public_key
    from pianocoach_export.signing import generate_key_pair

    private_path, public_path = generate_key_pair(args.name, args.dir, args.force)
    print(f"private key: {private_path} (keep it secret; never commit it)")
    print(
        f"public key:  {public_path} (id {load_public_key(public_path).key_id}); a device trusts bundles signed with "
        "it once this file is in its trusted keys folder"
    )
    return 0


def _export_llm(args: argparse.Namespace) -> int:
    from pianocoach.bundle import DEFAULT_BUNDLE
    from pianocoach_export.bundle_assembly import bundle_id, signing_key, write_verified
    from pianocoach_export.llm_export import bundle_with_feedback, export_llm
    from pianocoach_train.runs import artifacts_dir

    work = args.work or artifacts_dir() / "llm" / "gguf" / Path(args.run_dir).name
    result = export_llm(args.run_dir, work, args.quant, args.min_agreement)
    parity = result.report["greedy_parity"]
    print(
        f"GGUF: {result.float_gguf} ({result.report['float_bytes'] / 1e6:.1f} MB) -> {result.quantized_gguf} "
        f"({result.report['quantized_bytes'] / 1e6:.1f} MB, tensors {result.report['tensor_types']})"
    )
    print(
        f"greedy parity on {parity['prompts']} fixed prompts: {parity['exact']} identical, first token equal in "
        f"{parity['first_token']}, mean common prefix {parity['mean_agreement']:.2f}"
    )
    models, audio_path = bundle_with_feedback(args.bundle or DEFAULT_BUNDLE, result.model)
    new_id = bundle_id("pianocoach-feedback")
    out = args.out or artifacts_dir() / "bundles" / new_id
    write_verified(models, signing_key(args.key), out, out.with_suffix(".tar"), new_id, audio_path)
    print(
        f"bundle: {out} and {out.with_suffix('.tar')} (the scorers of {args.bundle or DEFAULT_BUNDLE} + feedback_llm "
        f"{args.quant}); verified"
    )
    return 0


def _bench_llm(args: argparse.Namespace) -> int:
    from pianocoach_export.bench_llm import run_bench
    from pianocoach_train.runs import artifacts_dir

    llm_dir = artifacts_dir() / "llm"
    result = run_bench(
        args.out,
        llm_dir / "bench",
        args.data_dir or llm_dir / "data",
        percepiano_root(args.data),
        args.model or [],
        args.rounds,
        progress=sys.stderr.isatty(),
    )
    print((REPO_ROOT / result["files"]["markdown"]).read_text(encoding="utf-8"))
    print(f"saved: {result['files']['json']}, {result['files']['markdown']}, {result['files']['plot']}")
    return 0


def _newest_bundle() -> Path:
    from pianocoach.bundle import DEFAULT_BUNDLE
    from pianocoach_train.runs import artifacts_dir

    built = sorted((artifacts_dir() / "bundles").glob("pianocoach-*.tar"), key=lambda p: p.stat().st_mtime)
    return built[-1] if built else DEFAULT_BUNDLE


def _flash(args: argparse.Namespace) -> int:
    import tempfile

    from pianocoach_export.flash import Device, FlashError, flash_all, format_report, read_inventory
    from pianocoach_export.signing import key_dir

    base = Device(
        host=args.host or "",
        port=args.port,
        pianocoach=args.pianocoach,
        staging=args.staging,
        identity=str(args.identity or ""),
        ssh_options=tuple(args.ssh_option or ()),
    )
    if args.inventory:
        devices = read_inventory(args.inventory, base)
    elif args.host:
        devices = [base]
    else:
        raise FlashError("say where to flash: --host user@device (make flash HOST=...) or --inventory FILE")
    bundle = args.bundle or _newest_bundle()
    with tempfile.TemporaryDirectory(prefix="pianocoach-flash-") as work:
        results = flash_all(devices, bundle, Path(work), [key_dir()])
    print(format_report(results))
    return 0 if all(r.ok for r in results) else 1


def build_parser() -> argparse.ArgumentParser:
    from pianocoach_export.flash import Device

    parser = argparse.ArgumentParser(prog="python -m pianocoach_export", description="PianoCoach export")
    add_verbose_flag(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_help = f"PercePiano folder (default ${PERCEPIANO_ENV} or ../shared/percepiano)"
    key_help = "Ed25519 private key (PEM) to sign with (default: the development key)"

    export = commands.add_parser("export", help="release models -> ONNX, parity, INT8, figures; bundle of the first")
    export.add_argument("--models", type=_models, default=("blend",), help="comma-separated scorers (default blend)")
    export.add_argument("--data", type=Path, help=data_help)
    export.add_argument("--key", type=Path, help=key_help)
    export.add_argument("--no-prune", action="store_true", help="skip the magnitude-pruning comparison")
    export.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports" / "export")
    export.add_argument("--report-name", default="export")
    export.set_defaults(run=_export)

    bundle = commands.add_parser("bundle", help="rebuild the committed default bundle from the release model")
    bundle.add_argument(
        "--default", action="store_true", required=True, help="write the default bundle (the only kind yet)"
    )
    bundle.add_argument("--model", default="blend", type=lambda t: _models(t)[0], help="scorer (default blend)")
    bundle.add_argument(
        "--reader",
        choices=("keep", "train"),
        default="keep",
        help="jianzipu reader: keep the committed bundle's (verified; the default) or export the one "
        "trained in artifacts/ (make jianzipu-reader)",
    )
    bundle.add_argument(
        "--audio",
        choices=("keep", "train"),
        default="train",
        help="audio path: export the release models make eval-audio chose (the default; make audio-release "
        "trains them), or keep the "
        "committed bundle's (verified), for a feature change shown not to move the audio features",
    )
    bundle.add_argument("--data", type=Path, help=data_help)
    bundle.add_argument("--key", type=Path, help=key_help)
    bundle.set_defaults(run=_default_bundle)

    sound = commands.add_parser(
        "sound-check", help="put the trained sound check (make sound-check) into the committed default bundle"
    )
    sound.add_argument("--key", type=Path, help=key_help)
    sound.set_defaults(run=_sound_check)

    pedal = commands.add_parser(
        "pedal", help="put the trained pedal model (make pedal-model) into the committed default bundle"
    )
    pedal.add_argument("--key", type=Path, help=key_help)
    pedal.set_defaults(run=_pedal)

    velocity = commands.add_parser(
        "velocity", help="put the trained velocity model (make velocity-model) into the committed default bundle"
    )
    velocity.add_argument("--key", type=Path, help=key_help)
    velocity.set_defaults(run=_velocity)

    note_end = commands.add_parser(
        "note-end", help="put the trained note-end model (make note-end-model) into the committed default bundle"
    )
    note_end.add_argument("--key", type=Path, help=key_help)
    note_end.set_defaults(run=_note_end)

    transcription = commands.add_parser(
        "transcription",
        help="train the transcription scorer on renders with their heard velocities and put it into the default bundle",
    )
    transcription.add_argument("--key", type=Path, help=key_help)
    transcription.set_defaults(run=_transcription)

    audio = commands.add_parser(
        "audio-report", help="INT8 size and latency of the audio models; the audio comparison table"
    )
    audio.add_argument("--data", type=Path, help=data_help)
    audio.set_defaults(run=_audio_report)

    reader = commands.add_parser(
        "jianzipu", help="export and evaluate the trained jianzipu image reader (make jianzipu-reader trains it)"
    )
    reader.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports" / "jianzipu")
    reader.add_argument(
        "--bundle", action="store_true", help="then put it into the committed default bundle (the other models kept)"
    )
    reader.add_argument("--key", type=Path, help="Ed25519 private key (PEM) to sign with (default: development key)")
    reader.set_defaults(run=_jianzipu)

    llm = commands.add_parser("llm", help="fine-tuned feedback model -> GGUF -> Q4_K_M/Q8_0 -> greedy check -> bundle")
    llm.add_argument(
        "--run",
        dest="run_dir",
        type=Path,
        required=True,
        help="a fine-tuning run folder (its merged/) or a Hugging Face model folder",
    )
    llm.add_argument(
        "--quant", default="Q4_K_M", choices=("Q4_K_M", "Q5_K_M", "Q8_0"), help="quantization (default Q4_K_M)"
    )
    llm.add_argument(
        "--min-agreement",
        type=float,
        default=0.0,
        help="fail when the quantized model's mean greedy agreement with the float one is below this",
    )
    llm.add_argument(
        "--bundle", type=Path, help="the bundle whose scorers the new bundle keeps (default: the built-in one)"
    )
    llm.add_argument("--out", type=Path, help="bundle folder (default artifacts/bundles/pianocoach-feedback-<time>)")
    llm.add_argument("--work", type=Path, help="where the GGUF files go (default artifacts/llm/gguf/<run name>)")
    llm.add_argument("--key", type=Path, help=key_help)
    llm.set_defaults(run=_export_llm)

    bench_llm = commands.add_parser(
        "bench-llm", help="tiny model token speed (float, Q8_0, Q4_K_M; 1 and 2 threads) and feedback relevance"
    )
    bench_llm.add_argument(
        "--out", type=Path, default=REPO_ROOT / "reports" / "llm" / "bench", help="report path without suffix"
    )
    bench_llm.add_argument("--data", type=Path, help=data_help)
    bench_llm.add_argument(
        "--data-dir", type=Path, help="instruction data (default artifacts/llm/data; built when missing)"
    )
    bench_llm.add_argument(
        "--model", type=Path, action="append", help="also score the relevance of this GGUF feedback model"
    )
    bench_llm.add_argument("--rounds", type=int, default=3)
    bench_llm.set_defaults(run=_bench_llm)

    flash = commands.add_parser(
        "flash", help="copy a bundle to devices over SSH and install it there (verify, health check, switch)"
    )
    flash.add_argument("--host", help="user@device")
    flash.add_argument("--inventory", type=Path, help="a TOML inventory of devices (see pianocoach_export/flash.py)")
    flash.add_argument(
        "--bundle",
        type=Path,
        help="bundle folder or .tar (default: the newest artifacts/bundles/*.tar, else the built-in bundle)",
    )
    flash.add_argument("--port", type=int, default=22)
    flash.add_argument("--identity", type=Path, help="SSH private key (default: ssh's agent and ~/.ssh)")
    flash.add_argument("--ssh-option", action="append", metavar="KEY=VALUE", help="extra ssh -o option (repeatable)")
    flash.add_argument(
        "--pianocoach",
        default=Device.pianocoach,
        help=f"the device's flashing gate command (default: {Device.pianocoach!r}, which install.sh "
        "allows to members of the pianocoach-flash group; its data folder is fixed)",
    )
    flash.add_argument(
        "--staging", default=Device.staging, help=f"where the bundle is copied on the device (default {Device.staging})"
    )
    flash.set_defaults(run=_flash)

    keygen = commands.add_parser("keygen", help="make an Ed25519 signing key pair")
    keygen.add_argument("--name", default="release", help="key name (files NAME.key and NAME.pub; default release)")
    keygen.add_argument("--dir", type=Path, help="folder (default $PIANOCOACH_KEY_DIR or ~/.config/pianocoach/keys)")
    keygen.add_argument("--force", action="store_true", help="replace an existing key of that name")
    keygen.set_defaults(run=_keygen)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv), "pianocoach_export")
