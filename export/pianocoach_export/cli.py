"""Export command line: ``python -m pianocoach_export <command>``.

    python -m pianocoach_export export [--models blend,mlp,...] [--key FILE]   ONNX, parity, INT8, figures, bundle
    python -m pianocoach_export bundle --default                             rebuild the committed default bundle
    python -m pianocoach_export jianzipu                                     train/export/evaluate the jianzipu reader
    python -m pianocoach_export keygen --name NAME                           make an Ed25519 signing key pair
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from pianocoach.console import add_verbose_flag, run_command
from pianocoach_train.settings import PERCEPIANO_ENV, REPO_ROOT, percepiano_root

ROLE = "midi_scorer"


def _models(text: str) -> tuple[str, ...]:
    from pianocoach_train.models import MODEL_NAMES

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown model {', '.join(unknown) or text!r}; choose from {', '.join(MODEL_NAMES)}")
    return names


def _store(args: argparse.Namespace):
    from pianocoach_train.feature_store import FeatureStore
    from pianocoach_train.percepiano.dataset import PercePiano

    return FeatureStore(PercePiano.open(percepiano_root(args.data)))


def _export_release(model: str, store, prune: bool, progress: bool):
    """Train the release model when it is missing (a finished run is reused), then export it."""
    from pianocoach_export.export_models import export_model
    from pianocoach_train.config import TrainConfig
    from pianocoach_train.release import release_dir, train_release
    from pianocoach_train.runs import artifacts_dir

    run_dir = train_release(TrainConfig(model=model), store, release_dir(model), progress=progress)
    return export_model(run_dir, store, artifacts_dir() / "export" / model, prune=prune, progress=progress)


def _scorer_model(result):
    from pianocoach_export.bundle import BundleModel
    from pianocoach_train.percepiano.labels import SCALES

    path, precision = result.chosen()
    metrics = {"test_list": "performer split test list (193)", "parity_max_abs": result.parity_max_abs,
               "float": result.float, "int8": result.int8, "quantization": result.quantization}
    return BundleModel(ROLE, path, result.model, precision, tuple(SCALES), metrics, result.provenance)


def _reader_model(progress: bool):
    """The jianzipu image reader (trained and exported when missing), INT8."""
    from pianocoach.jsonio import read_json
    from pianocoach_export.bundle import BundleModel
    from pianocoach_export.jianzipu_export import LABELS, ROLE as READER_ROLE, export_reader

    export = export_reader(progress=progress)
    int8 = export.results["INT8 (ONNX)"]
    metrics = {"parity_max_abs": export.parity_max_abs, "bytes": export.bytes, "latency_ms": export.latency_ms,
               "int8": {name: {"parts": r["parts"], "exact_top1": r["exact_top1"], "exact_top5": r["exact_top5"]}
                        for name, r in int8.items()}}
    provenance = {k: v for k, v in read_json(Path(export.run_dir) / "run.json").items() if k != "finished"}
    return BundleModel(READER_ROLE, Path(export.int8_path), "cnn, one head per part", "int8", LABELS, metrics, provenance)


AUDIO_ROLES = ("audio_scorer", "transcription_scorer")


def _kept_models(roles: tuple[str, ...]) -> tuple[dict, dict]:
    """Models of the committed default bundle to carry into its rebuild, by role, and its audio path.

    For the jianzipu reader (it reads images: the piano feature settings never touch it, and retraining it
    costs about half an hour here) and, with ``--audio keep``, the audio path when a feature version changed
    the code but not the numbers (say so in the README with the measurement). The bundle is verified first
    (signature, checksums, every model) against the feature settings it records, and the files are copied
    out before the bundle is replaced; each model's provenance names the bundle and feature hash it came from."""
    import shutil

    from pianocoach.bundle import DEFAULT_BUNDLE, Manifest, sha256_file, verify_bundle
    from pianocoach.bundle.signing import trusted_keys
    from pianocoach.errors import BundleRejected
    from pianocoach.features import DEFAULT_SETTINGS, FeatureSettings
    from pianocoach_export.bundle import models_from_bundle
    from pianocoach_train.runs import artifacts_dir

    # the settings it records, read to check it against them (the signature check comes next); a settings
    # field this code no longer has means the bundle cannot be checked here: train instead
    try:
        recorded = FeatureSettings.from_dict(Manifest.read(DEFAULT_BUNDLE).feature_settings)
    except TypeError as exc:
        raise BundleRejected(DEFAULT_BUNDLE, [f"its feature settings do not fit this code ({exc}); use READER=train "
                                              "AUDIO=train"]) from None
    check = verify_bundle(DEFAULT_BUNDLE, trusted_keys(), settings=recorded)  # the packaged keys, not an override
    if not check.ok:
        raise BundleRejected(DEFAULT_BUNDLE, check.problems)
    manifest = check.manifest
    found, audio_path = models_from_bundle(DEFAULT_BUNDLE)
    kept = {}
    for role in roles:
        model = next((m for m in found if m.role == role), None)
        if model is None:
            raise BundleRejected(DEFAULT_BUNDLE, [f"no {role} model to keep"])
        copy = artifacts_dir() / "export" / role / f"kept-from-default-bundle.{model.precision}{Path(model.file).suffix}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model.source, copy)
        if sha256_file(copy) != manifest.files[model.file].sha256:  # changed between the check and the copy
            copy.unlink()
            raise BundleRejected(DEFAULT_BUNDLE, [f"{model.file}: changed while it was being kept"])
        # a model kept before keeps the bundle and the features it was first trained with
        provenance = {"kept_from_bundle": manifest.bundle_id,
                      "trained_on_feature_settings_sha256": manifest.feature_settings_sha256, **model.provenance}
        kept[role] = replace(model, source=copy, provenance=provenance)
        print(f"{role}: kept from {DEFAULT_BUNDLE} ({manifest.bundle_id}, verified; trained on features "
              f"{provenance['trained_on_feature_settings_sha256'][:12]}, now {DEFAULT_SETTINGS.sha256()[:12]})")
    return kept, audio_path


def _audio_models(progress: bool) -> tuple[list, dict]:
    """The bundle's audio path as ``make eval-audio`` measured it best (reports/audio/audio_eval.json):
    the models it needs (trained and exported when missing) and the manifest's ``audio_path``."""
    from pianocoach_export.audio_report import choose_audio_path

    from pianocoach_train.audio.evaluate import AudioEvaluation
    from pianocoach_train.percepiano.dataset import PercePiano

    choice = choose_audio_path()
    if choice is None:
        return [], {}
    evaluation = AudioEvaluation(PercePiano.open(percepiano_root(None)), progress)  # renders loaded once for both
    models = []
    if choice["mode"] in ("audio_model", "fusion"):
        models.append(_audio_scorer_model(choice["audio_model"], evaluation, progress))
    if choice["mode"] in ("fusion", "transcription"):
        models.append(_transcription_scorer_model(evaluation, progress))
    return models, {k: choice[k] for k in ("mode", "audio_weight", "measured", "audio_model")}


def _audio_scorer_model(name: str, evaluation, progress: bool):
    from pianocoach_export.audio_export import export_audio_model
    from pianocoach_export.bundle import BundleModel
    from pianocoach_train.audio.evaluate import train_audio_release
    from pianocoach_train.percepiano.labels import SCALES

    train_audio_release(name, progress=progress, evaluation=evaluation)
    result = export_audio_model(name, evaluation.held_out, evaluation.training_sets[0], evaluation.labels)
    path, precision = result.chosen()
    metrics = {"test_list": "performer split test list (193), held-out soundfont renders", "parity_max_abs": result.parity_max_abs,
               "float": result.float, "int8": result.int8, "quantization": result.quantization}
    return BundleModel("audio_scorer", path, name, precision, tuple(SCALES), metrics, result.provenance)


def _transcription_scorer_model(evaluation, progress: bool):
    from pianocoach_export.bundle import BundleModel
    from pianocoach_export.export_models import export_model
    from pianocoach_train.audio.evaluate import train_audio_release
    from pianocoach_train.percepiano.labels import SCALES
    from pianocoach_train.runs import artifacts_dir

    run_dir = train_audio_release("transcription", progress=progress, evaluation=evaluation)
    result = export_model(run_dir, evaluation.transcribed_test, artifacts_dir() / "export" / "transcription_blend", prune=False,
                          progress=progress, calibration_store=evaluation.transcribed_train)
    path, precision = result.chosen()
    metrics = {"test_list": "performer split test list (193), transcriptions of held-out soundfont renders",
               "parity_max_abs": result.parity_max_abs, "float": result.float, "int8": result.int8,
               "quantization": result.quantization}
    return BundleModel("transcription_scorer", path, result.model, precision, tuple(SCALES), metrics, result.provenance)


def _write_verified(models: list, key, out_dir: Path, tar_path: Path | None, bundle_id: str,
                    audio_path: dict | None = None) -> None:
    from pianocoach.bundle import verify_bundle
    from pianocoach.bundle.signing import TrustedKey, key_id, trusted_keys
    from pianocoach.errors import BundleRejected
    from pianocoach_export.bundle import write_bundle

    write_bundle(out_dir, models, key, bundle_id, tar_path, audio_path=audio_path)
    # check what was written as a device would, trusting the packaged keys and the key that signed it
    signer = TrustedKey(key_id(key.public_key()), "signer", key.public_key())
    for target in [out_dir] + ([tar_path] if tar_path else []):
        check = verify_bundle(target, [signer, *trusted_keys()])
        if not check.ok:
            raise BundleRejected(target, check.problems)


def _bundle_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"


def _signing_key(args: argparse.Namespace):
    from pianocoach_export.signing import development_key, load_private_key

    return load_private_key(args.key) if args.key else development_key()


def _export(args: argparse.Namespace) -> int:
    from pianocoach_export.report import write
    from pianocoach_train.runs import artifacts_dir

    store = _store(args)
    progress = sys.stderr.isatty()
    results = []
    for model in args.models:
        results.append(_export_release(model, store, prune=not args.no_prune, progress=progress))
    paths = write(results, args.report_dir, args.report_name)
    print(paths["markdown"].read_text(encoding="utf-8"))
    best = results[0]
    bundle_id = _bundle_id(f"pianocoach-{best.model}")
    out = artifacts_dir() / "bundles" / bundle_id
    scorer = _scorer_model(best)
    _write_verified([scorer, _reader_model(progress)], _signing_key(args), out, out.with_suffix(".tar"), bundle_id)
    print(f"report: {paths['markdown']} ({paths['json'].name})")
    print(f"bundle: {out} and {out.with_suffix('.tar')} ({best.model}, {scorer.precision}; jianzipu reader, int8); verified")
    return 0


def _default_bundle(args: argparse.Namespace) -> int:
    from pianocoach.bundle import DEFAULT_BUNDLE
    from pianocoach_train.runs import artifacts_dir

    progress = sys.stderr.isatty()
    keep = (("jianzipu_reader",) if args.reader == "keep" else ()) + (AUDIO_ROLES if args.audio == "keep" else ())
    kept, kept_audio_path = _kept_models(keep) if keep else ({}, {})  # before anything replaces the bundle
    result = _export_release(args.model, _store(args), prune=False, progress=progress)
    tar_path = artifacts_dir() / "bundles" / "default.tar"
    scorer = _scorer_model(result)
    reader = kept.get("jianzipu_reader") or _reader_model(progress)
    if args.audio == "keep":
        audio, audio_path = [kept[role] for role in AUDIO_ROLES if role in kept], kept_audio_path
    else:
        audio, audio_path = _audio_models(progress)
    _write_verified([scorer, reader, *audio], _signing_key(args), DEFAULT_BUNDLE, tar_path, _bundle_id(f"default-{args.model}"),
                    audio_path)
    size = sum(p.stat().st_size for p in DEFAULT_BUNDLE.rglob("*") if p.is_file())
    top1 = reader.metrics["int8"]["benchmark_96"]["exact_top1"]
    print(f"default bundle: {DEFAULT_BUNDLE} ({size / 1e6:.2f} MB; {result.model}, {scorer.precision}; "
          f"R² {result.float['r2']:.3f} float / {result.int8['r2'] if result.int8 else '—'} int8 on the performer test list; "
          f"jianzipu reader int8, top-1 {top1:.3f} on the 96-character set)")
    if audio_path:
        print(f"audio input: {audio_path['mode']} ({', '.join(m.role + ' ' + m.architecture + ' ' + m.precision for m in audio)})")
    else:
        print("audio input: no audio evaluation yet (make eval-audio); microphone scores stay provisional")
    print(f"archive: {tar_path}")
    return 0


def _audio_report(args: argparse.Namespace) -> int:
    """INT8 size and latency of each audio model (performer fold 0), then the comparison table."""
    from pianocoach.jsonio import read_json
    from pianocoach_export.audio_export import export_audio_model
    from pianocoach_export.audio_report import write_audio_report
    from pianocoach_train.audio.evaluate import AudioEvaluation
    from pianocoach_train.audio.models import ARCHITECTURES
    from pianocoach_train.percepiano.dataset import PercePiano
    from pianocoach_train.runs import artifacts_dir

    evaluation = AudioEvaluation(PercePiano.open(percepiano_root(args.data)), sys.stderr.isatty())
    exports = {}
    for name in ARCHITECTURES:
        run_dir = artifacts_dir() / "runs" / "audio" / name / "performer" / "fold_0"
        if (run_dir / "model.pt").is_file():
            result = export_audio_model(name, evaluation.held_out, evaluation.training_sets[0], evaluation.labels,
                                        artifacts_dir() / "export" / f"audio_eval_{name}", run_dir)
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
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from pianocoach.bundle.signing import load_public_key
    from pianocoach_export.signing import generate_key_pair

    private_path, public_path = generate_key_pair(args.name, args.dir, args.force)
    print(f"private key: {private_path} (keep it secret; never commit it)")
    print(f"public key:  {public_path} (id {load_public_key(public_path).key_id}); a device trusts bundles signed with "
          "it once this file is in its trusted keys folder")
    return 0


def _export_llm(args: argparse.Namespace) -> int:
    from pianocoach.bundle import DEFAULT_BUNDLE
    from pianocoach_export.llm_export import bundle_with_feedback, export_llm
    from pianocoach_train.runs import artifacts_dir

    work = args.work or artifacts_dir() / "llm" / "gguf" / Path(args.run_dir).name
    result = export_llm(args.run_dir, work, args.quant, args.min_agreement)
    parity = result.report["greedy_parity"]
    print(f"GGUF: {result.float_gguf} ({result.report['float_bytes'] / 1e6:.1f} MB) -> {result.quantized_gguf} "
          f"({result.report['quantized_bytes'] / 1e6:.1f} MB, tensors {result.report['tensor_types']})")
    print(f"greedy parity on {parity['prompts']} fixed prompts: {parity['exact']} identical, first token equal in "
          f"{parity['first_token']}, mean common prefix {parity['mean_agreement']:.2f}")
    models, audio_path = bundle_with_feedback(args.bundle or DEFAULT_BUNDLE, result.model)
    bundle_id = _bundle_id("pianocoach-feedback")
    out = args.out or artifacts_dir() / "bundles" / bundle_id
    _write_verified(models, _signing_key(args), out, out.with_suffix(".tar"), bundle_id, audio_path)
    print(f"bundle: {out} and {out.with_suffix('.tar')} (the scorers of {args.bundle or DEFAULT_BUNDLE} + feedback_llm "
          f"{args.quant}); verified")
    return 0


def _bench_llm(args: argparse.Namespace) -> int:
    from pianocoach_export.bench_llm import run_bench
    from pianocoach_train.runs import artifacts_dir

    llm_dir = artifacts_dir() / "llm"
    result = run_bench(args.out, llm_dir / "bench", args.data_dir or llm_dir / "data", percepiano_root(args.data),
                       args.model or [], args.rounds, progress=sys.stderr.isatty())
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

    from pianocoach_export.flash import Device

    from pianocoach_export.flash import FlashError, flash_all, format_report, read_inventory
    from pianocoach_export.signing import key_dir

    base = Device(host=args.host or "", port=args.port, pianocoach=args.pianocoach,
                  staging=args.staging, identity=str(args.identity or ""), ssh_options=tuple(args.ssh_option or ()))
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
    bundle.add_argument("--default", action="store_true", required=True, help="write the default bundle (the only kind yet)")
    bundle.add_argument("--model", default="blend", type=lambda t: _models(t)[0], help="scorer (default blend)")
    bundle.add_argument("--reader", choices=("keep", "train"), default="keep",
                        help="jianzipu reader: keep the committed bundle's (verified; the default) or train and export "
                             "one (reused from artifacts/ when trained before)")
    bundle.add_argument("--audio", choices=("keep", "train"), default="train",
                        help="audio path: train it from the renders as make eval-audio chose (the default), or keep the "
                             "committed bundle's (verified), for a feature change shown not to move the audio features")
    bundle.add_argument("--data", type=Path, help=data_help)
    bundle.add_argument("--key", type=Path, help=key_help)
    bundle.set_defaults(run=_default_bundle)

    audio = commands.add_parser("audio-report", help="INT8 size and latency of the audio models; the audio comparison table")
    audio.add_argument("--data", type=Path, help=data_help)
    audio.set_defaults(run=_audio_report)

    reader = commands.add_parser("jianzipu", help="train (when missing), export and evaluate the jianzipu image reader")
    reader.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports" / "jianzipu")
    reader.set_defaults(run=_jianzipu)

    llm = commands.add_parser("llm", help="fine-tuned feedback model -> GGUF -> Q4_K_M/Q8_0 -> greedy check -> bundle")
    llm.add_argument("--run", dest="run_dir", type=Path, required=True, help="a fine-tuning run folder (its merged/) or a Hugging Face model folder")
    llm.add_argument("--quant", default="Q4_K_M", choices=("Q4_K_M", "Q5_K_M", "Q8_0"), help="quantization (default Q4_K_M)")
    llm.add_argument("--min-agreement", type=float, default=0.0,
                     help="fail when the quantized model's mean greedy agreement with the float one is below this")
    llm.add_argument("--bundle", type=Path, help="the bundle whose scorers the new bundle keeps (default: the built-in one)")
    llm.add_argument("--out", type=Path, help="bundle folder (default artifacts/bundles/pianocoach-feedback-<time>)")
    llm.add_argument("--work", type=Path, help="where the GGUF files go (default artifacts/llm/gguf/<run name>)")
    llm.add_argument("--key", type=Path, help=key_help)
    llm.set_defaults(run=_export_llm)

    bench_llm = commands.add_parser("bench-llm", help="tiny model token speed (float, Q8_0, Q4_K_M; 1 and 2 threads) and feedback relevance")
    bench_llm.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "llm" / "bench", help="report path without suffix")
    bench_llm.add_argument("--data", type=Path, help=data_help)
    bench_llm.add_argument("--data-dir", type=Path, help="instruction data (default artifacts/llm/data; built when missing)")
    bench_llm.add_argument("--model", type=Path, action="append", help="also score the relevance of this GGUF feedback model")
    bench_llm.add_argument("--rounds", type=int, default=3)
    bench_llm.set_defaults(run=_bench_llm)

    flash = commands.add_parser("flash", help="copy a bundle to devices over SSH and install it there (verify, health check, switch)")
    flash.add_argument("--host", help="user@device")
    flash.add_argument("--inventory", type=Path, help="a TOML inventory of devices (see pianocoach_export/flash.py)")
    flash.add_argument("--bundle", type=Path, help="bundle folder or .tar (default: the newest artifacts/bundles/*.tar, "
                                                   "else the built-in bundle)")
    flash.add_argument("--port", type=int, default=22)
    flash.add_argument("--identity", type=Path, help="SSH private key (default: ssh's agent and ~/.ssh)")
    flash.add_argument("--ssh-option", action="append", metavar="KEY=VALUE", help="extra ssh -o option (repeatable)")
    flash.add_argument("--pianocoach", default=Device.pianocoach,
                       help=f"the device's flashing gate command (default: {Device.pianocoach!r}, which install.sh "
                            "allows to members of the pianocoach-flash group; its data folder is fixed)")
    flash.add_argument("--staging", default=Device.staging, help=f"where the bundle is copied on the device (default {Device.staging})")
    flash.set_defaults(run=_flash)

    keygen = commands.add_parser("keygen", help="make an Ed25519 signing key pair")
    keygen.add_argument("--name", default="release", help="key name (files NAME.key and NAME.pub; default release)")
    keygen.add_argument("--dir", type=Path, help="folder (default $PIANOCOACH_KEY_DIR or ~/.config/pianocoach/keys)")
    keygen.add_argument("--force", action="store_true", help="replace an existing key of that name")
    keygen.set_defaults(run=_keygen)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv), "pianocoach_export")
