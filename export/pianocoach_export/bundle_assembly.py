"""Putting signed bundles together from trained models: ``make export`` (release scorers -> ONNX, parity,
INT8, the comparison table, a bundle of the first) and ``make bundle`` (the committed default bundle: the
release scorer, the jianzipu reader, the audio path and the sound check, each trained or kept from the committed
bundle).

Nothing here trains: :mod:`pianocoach_export.trained_models` finds each finished run or stops with a
one-line error naming the make target that trains it (the Makefile runs those targets first). Every
bundle written is verified as a device would verify it before this returns.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pianocoach_export.bundle_writer import BundleModel

log = logging.getLogger(__name__)

ROLE = "midi_scorer"
READER_ROLE = "jianzipu_reader"
AUDIO_ROLES = ("audio_scorer", "transcription_scorer")


def bundle_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"


def signing_key(path: Path | None):
    """The Ed25519 private key at ``path``, else the development key."""
    from pianocoach_export.signing import development_key, load_private_key

    return load_private_key(path) if path else development_key()


def export_release(model: str, store, prune: bool, progress: bool):
    """Export the finished release run of ``model`` (``make release-model`` trains it)."""
    from pianocoach_export.export_models import export_model
    from pianocoach_export.trained_models import release_run
    from pianocoach_train.runs import artifacts_dir

    return export_model(release_run(model), store, artifacts_dir() / "export" / model, prune=prune, progress=progress)


def scorer_model(result) -> BundleModel:
    return _exported_model(ROLE, result.model, result, "performer split test list (193)")


def write_scaled(
    models: list, key, out_dir: Path, tar_path: Path | None, new_id: str, audio_path: dict | None, run_dir, store
) -> None:
    """Write and verify the bundle twice: first as it is, so the device's own pipeline can score the release
    model's validation performances with it (:func:`device_expression_scale`), then with that expression scale in
    the MIDI scorer's metrics."""
    write_verified(models, key, out_dir, None, new_id, audio_path)
    scorer = next(m for m in models if m.role == ROLE)
    scorer.metrics["expression_scale"] = device_expression_scale(out_dir, key, Path(run_dir), store)
    write_verified(models, key, out_dir, tar_path, new_id, audio_path)


def device_expression_scale(bundle: Path, key, run_dir: Path, store) -> dict:
    """The bundle's 19-scale marks, as `pianocoach score` gives them (2 s blocks, 20 s windows, the passage score
    known), on the release model's validation performances (never trained on, never the test list), against the
    listeners' marks of the same performances: means and spreads (see
    :class:`pianocoach.rating_scales.ExpressionScale`). Measured through the device pipeline, not on the model's
    offline predictions: its windows and their weighted mean give marks of another mean and a narrower spread."""
    from tqdm import tqdm

    from pianocoach.bundle.signing import TrustedKey, key_id, trusted_keys
    from pianocoach.inputs import open_file
    from pianocoach.jsonio import read_json
    from pianocoach.rating_scales import overall_mark
    from pianocoach.repertoire import read_musicxml
    from pianocoach.repertoire.identify import RepertoireIndex
    from pianocoach.scoring import BundleScorer, score_source
    from pianocoach_train.percepiano.passages import performance_scores

    ids = list(read_json(run_dir / "run.json", what="run record")["validation_ids"])
    scorer = BundleScorer(
        bundle, keys=[TrustedKey(key_id(key.public_key()), "signer", key.public_key()), *trusted_keys()]
    )
    passages = performance_scores(store.dataset.root, ids)
    predicted = []
    for ident in tqdm(ids, desc="expression scale (device pipeline)", unit="take", disable=None):
        repertoire = RepertoireIndex({"piece": read_musicxml(passages[ident])}) if ident in passages else None
        source = open_file(store.dataset.midi_files[ident], 2.0, False)
        result = score_source(source, scorer, repertoire=repertoire, piece_id="piece" if repertoire else None)
        predicted.append(overall_mark(result.scale_values))
    heard = [overall_mark(list(row)) for row in store.labels(ids)]
    return {
        "model_mean": round(float(np.mean(predicted)), 3),
        "model_sd": round(float(np.std(predicted)), 3),
        "listener_mean": round(float(np.mean(heard)), 3),
        "listener_sd": round(float(np.std(heard)), 3),
        "measured_on": f"the release model's {len(ids)} validation performances, scored by the device pipeline",
    }


def _exported_model(role: str, name: str, result, test_list: str) -> BundleModel:
    """A bundle entry for an exported scorer: the precision export chose, its parity and test figures."""
    from pianocoach_train.percepiano.labels import SCALES

    path, precision = result.chosen()
    metrics = {
        "test_list": test_list,
        "parity_max_abs": result.parity_max_abs,
        "float": result.float,
        "int8": result.int8,
        "quantization": result.quantization,
    }
    return BundleModel(role, path, name, precision, tuple(SCALES), metrics, result.provenance)


def reader_model(progress: bool) -> BundleModel:
    """The jianzipu image reader (``make jianzipu-reader`` trains it), exported, INT8."""
    from pianocoach.jsonio import read_json
    from pianocoach_export.jianzipu_export import LABELS, export_reader

    export = export_reader(progress=progress)
    int8 = export.results["INT8 (ONNX)"]
    metrics = {
        "parity_max_abs": export.parity_max_abs,
        "bytes": export.bytes,
        "latency_ms": export.latency_ms,
        "int8": {
            name: {"parts": r["parts"], "exact_top1": r["exact_top1"], "exact_top5": r["exact_top5"]}
            for name, r in int8.items()
        },
    }
    members = [
        {k: v for k, v in read_json(Path(run) / "run.json").items() if k != "finished"} for run in export.members
    ]
    provenance = {"averaged": members}
    architecture = f"{len(members)} cnns averaged, one head per part"
    return BundleModel(READER_ROLE, Path(export.int8_path), architecture, "int8", LABELS, metrics, provenance)


def kept_models(roles: tuple[str, ...]) -> tuple[dict, dict]:
    """Models of the committed default bundle to carry into its rebuild, by role, and its audio path.

    For the jianzipu reader (it reads images: the piano feature settings never touch it, and retraining it
    costs about half an hour here) and, with ``--audio keep``, the audio path when a feature version changed
    the code but not the numbers (say so in the README with the measurement). The bundle is verified first
    (signature, checksums, every model) against the feature settings it records, and the files are copied
    out before the bundle is replaced; each model's provenance names the bundle and feature hash it came from."""
    import pianocoach.bundle
    from pianocoach.bundle import Manifest, sha256_file, verify_bundle
    from pianocoach.bundle.signing import trusted_keys
    from pianocoach.errors import BundleRejected
    from pianocoach.features import DEFAULT_SETTINGS, FeatureSettings
    from pianocoach_export.bundle_writer import models_from_bundle
    from pianocoach_train.runs import artifacts_dir

    default = pianocoach.bundle.DEFAULT_BUNDLE  # read at call time (the tests point it at a copy)
    # the settings it records, read to check it against them (the signature check comes next); a settings
    # field this code no longer has means the bundle cannot be checked here: train instead
    try:
        recorded = FeatureSettings.from_dict(Manifest.read(default).feature_settings)
    except TypeError as exc:
        raise BundleRejected(
            default, [f"its feature settings do not fit this code ({exc}); use READER=train AUDIO=train"]
        ) from None
    check = verify_bundle(default, trusted_keys(), settings=recorded)  # the packaged keys, not an override
    if not check.ok:
        raise BundleRejected(default, check.problems)
    manifest = check.manifest
    found, audio_path = models_from_bundle(default)
    kept = {}
    for role in roles:
        model = next((m for m in found if m.role == role), None)
        if model is None:
            raise BundleRejected(default, [f"no {role} model to keep"])
        copy = (
            artifacts_dir() / "export" / role / f"kept-from-default-bundle.{model.precision}{Path(model.file).suffix}"
        )
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model.source, copy)
        if sha256_file(copy) != manifest.files[model.file].sha256:  # changed between the check and the copy
            copy.unlink()
            raise BundleRejected(default, [f"{model.file}: changed while it was being kept"])
        # a model kept before keeps the bundle and the features it was first trained with
        provenance = {
            "kept_from_bundle": manifest.bundle_id,
            "trained_on_feature_settings_sha256": manifest.feature_settings_sha256,
            **model.provenance,
        }
        kept[role] = replace(model, source=copy, provenance=provenance)
        log.info(
            "%s: kept from %s (%s, verified; trained on features %s, now %s)",
            role,
            default,
            manifest.bundle_id,
            provenance["trained_on_feature_settings_sha256"][:12],
            DEFAULT_SETTINGS.sha256()[:12],
        )
    return kept, audio_path


def audio_models(progress: bool) -> tuple[list, dict]:
    """The bundle's audio path as ``make eval-audio`` measured it best (reports/audio/audio_eval.json):
    its exported models (``make audio-release`` trains them) and the manifest's ``audio_path``."""
    from pianocoach_export.trained_models import audio_release_run
    from pianocoach_train.audio.evaluate import SHIPPED_TRANSCRIPTION, AudioEvaluation
    from pianocoach_train.audio.path_choice import choose_audio_path, release_models
    from pianocoach_train.paths import percepiano_root
    from pianocoach_train.percepiano.dataset import PercePiano

    choice = choose_audio_path()
    if choice is None:
        return [], {}
    runs = {name: audio_release_run(name) for name in release_models(choice)}  # all there before any export
    evaluation = AudioEvaluation(PercePiano.open(percepiano_root(None)), progress)  # renders loaded once for both
    models = []
    if choice["mode"] in ("audio_model", "fusion"):
        models.append(_audio_scorer_model(choice["audio_model"], runs[choice["audio_model"]], evaluation))
    if choice["mode"] in ("fusion", "transcription"):
        run = runs[SHIPPED_TRANSCRIPTION]
        models.append(_transcription_scorer_model(run, evaluation, progress, SHIPPED_TRANSCRIPTION))
    return models, {k: choice[k] for k in ("mode", "audio_weight", "measured", "audio_model")}


def _audio_scorer_model(name: str, run_dir: Path, evaluation) -> BundleModel:
    from pianocoach_export.audio_export import export_audio_model

    result = export_audio_model(
        name, evaluation.held_out, evaluation.training_sets[0], evaluation.labels, run_dir=run_dir
    )
    return _exported_model("audio_scorer", name, result, "performer split test list (193), held-out soundfont renders")


def _transcription_scorer_model(run_dir: Path, evaluation, progress: bool, row: str = "transcription") -> BundleModel:
    """The transcription scorer of ``run_dir`` exported; ``row``: the evaluation row it was trained as (a run trained
    on the pedal or the key velocities heard in the renders, ``make bundle-transcription``, is measured and calibrated
    on such vectors and paired with the model that heard them)."""
    from pianocoach.features.note_velocity import NOTE_VELOCITY_VERSION
    from pianocoach.features.pedal_frames import PEDAL_EVENTS_VERSION
    from pianocoach_export.export_models import export_model
    from pianocoach_train.percepiano.labels import SCALES
    from pianocoach_train.runs import artifacts_dir

    train, test = evaluation.transcription_stores(row)
    result = export_model(
        run_dir,
        test,
        artifacts_dir() / "export" / f"{row}_blend",
        prune=False,
        progress=progress,
        calibration_store=train,
    )
    path, precision = result.chosen()
    metrics = {
        "test_list": "performer split test list (193), transcriptions of held-out soundfont renders",
        "parity_max_abs": result.parity_max_abs,
        "float": result.float,
        "int8": result.int8,
        "quantization": result.quantization,
    }
    # the model whose output it learned from (its run says which): the device refuses a bundle carrying another
    if row == "transcription_heard_pedal":
        metrics["heard_pedal"] = {
            "pedal_sha256": learned_sha256(run_dir, "heard_pedal"),
            "events_version": PEDAL_EVENTS_VERSION,
        }
    if row == "transcription_heard_velocity":
        from pianocoach.jsonio import read_json

        metrics["heard_velocity"] = {
            "velocity_sha256": learned_sha256(run_dir, "heard_velocity"),
            "features_version": NOTE_VELOCITY_VERSION,
            "spread": read_json(Path(run_dir) / "run.json").get("velocity_spread"),  # the velocities depend on it too
        }
    return BundleModel("transcription_scorer", path, result.model, precision, tuple(SCALES), metrics, result.provenance)


def learned_sha256(run_dir: Path, key: str = "heard_pedal") -> str:
    """The sha256 of the model (``heard_pedal``: the pedal model, ``heard_velocity``: the velocity model) whose output
    a transcription run learned from (its ``run.json``)."""
    from pianocoach.jsonio import read_json

    sha = read_json(Path(run_dir) / "run.json").get(key)
    if not isinstance(sha, str):
        raise ValueError(f"{run_dir}/run.json: trained without the {key.replace('_', ' ')} (make bundle-transcription)")
    return sha


# what a transcription scorer may have learned from: (its metric, the sha256 key in it, the model's role)
LEARNED_FROM = (("heard_pedal", "pedal_sha256", "pedal"), ("heard_velocity", "velocity_sha256", "velocity"))


def pairing_problem(models: list) -> str | None:
    """Before anything is written: a transcription scorer that learned from one pedal (or velocity) model's output
    with another such model, or none, in the same bundle (the device would refuse it; ``Manifest.heard_pedal_problem``,
    ``Manifest.heard_velocity_problem``), or a note-end model with another pedal model."""
    import hashlib

    roles = {m.role: m for m in models}
    scorer = roles.get("transcription_scorer")
    for metric, sha_key, role in LEARNED_FROM:
        stated = scorer.metrics.get(metric) if scorer is not None else None
        if stated is None:
            continue
        learned = stated.get(sha_key) if isinstance(stated, dict) else None
        if not isinstance(learned, str):  # the device refuses it too (Manifest._learned_from_problem)
            return f"the transcription scorer's {metric} does not name a {sha_key}"
        carried = roles.get(role)
        found = hashlib.sha256(Path(carried.source).read_bytes()).hexdigest() if carried is not None else None
        if found == learned and role == "velocity" and stated.get("spread") != carried.metrics.get("spread"):
            return (
                f"the transcription scorer learned velocities spread as {str(stated.get('spread'))[:80]}, the velocity "
                f"model spreads them as {str(carried.metrics.get('spread'))[:80]}: make bundle-transcription "
                "retrains it"
            )
        if found != learned:
            return (
                f"the transcription scorer learned from {role} model {str(learned)[:12]}, the bundle would carry "
                f"{role + ' model ' + found[:12] if found else 'none'}: make bundle-transcription retrains it with "
                "this one"
            )
    return note_end_pairing_problem(roles)


def without_unpaired_note_end(models: list) -> list:
    """``models`` without a note-end model that learned with another pedal model than the one going in (it is optional:
    a take's notes then keep basic-pitch's ends), said in a warning; the others as they are."""
    roles = {m.role: m for m in models}
    problem = note_end_pairing_problem(roles) if "note_end" in roles else None
    if problem is None:
        return models
    log.warning("%s; the bundle goes without a note-end model (make note-end-model bundle-note-end adds one)", problem)
    return [m for m in models if m.role != "note_end"]


def note_end_pairing_problem(roles: dict) -> str | None:
    """A note-end model with another pedal model than the one it learned with, or none
    (``Manifest.note_end_problem``)."""
    import hashlib

    from pianocoach.bundle.manifest import SHA256_HEX

    note_end, pedal = roles.get("note_end"), roles.get("pedal")
    if note_end is None:
        return None
    learned = note_end.metrics.get("pedal_sha256")
    if not (isinstance(learned, str) and SHA256_HEX.fullmatch(learned)):  # the device refuses it too
        return "the note-end model does not name the pedal model it learned with (pedal_sha256): make note-end-model"
    found = hashlib.sha256(Path(pedal.source).read_bytes()).hexdigest() if pedal is not None else None
    if learned == found:
        return None
    return (
        f"the note-end model learned with pedal model {str(learned)[:12]}, the bundle would carry "
        f"{'pedal model ' + found[:12] if found else 'none'}: make note-end-model retrains it with this one"
    )


def write_verified(
    models: list, key, out_dir: Path, tar_path: Path | None, bundle_id: str, audio_path: dict | None = None
) -> None:
    """Write the bundle (folder, and ``tar_path`` when given), then verify each as a device would."""
    from pianocoach.bundle import verify_bundle
    from pianocoach.bundle.signing import TrustedKey, key_id, trusted_keys
    from pianocoach.errors import BundleRejected
    from pianocoach_export.bundle_writer import write_bundle

    problem = pairing_problem(models)
    if problem:  # refused before the folder (often the committed default bundle) is touched
        raise BundleRejected(out_dir, [problem])
    write_bundle(out_dir, models, key, bundle_id, tar_path, audio_path=audio_path)
    # check what was written as a device would, trusting the packaged keys and the key that signed it
    signer = TrustedKey(key_id(key.public_key()), "signer", key.public_key())
    for target in [out_dir] + ([tar_path] if tar_path else []):
        check = verify_bundle(target, [signer, *trusted_keys()])
        if not check.ok:
            raise BundleRejected(target, check.problems)


@dataclass
class ExportedBundle:
    """What ``make export`` made: every model's export, the report files, the bundle of the first."""

    results: list
    report: dict[str, Path]
    out: Path
    scorer: BundleModel


def assemble_export(
    models: tuple[str, ...],
    store,
    key_path: Path | None,
    prune: bool,
    report_dir: Path,
    report_name: str,
    progress: bool,
) -> ExportedBundle:
    """Export each release scorer, write the float vs INT8 report, bundle the first with the jianzipu reader."""
    from pianocoach_export.export_report import write
    from pianocoach_export.trained_models import reader_runs, release_run
    from pianocoach_train.runs import artifacts_dir

    for model in models:  # every trained model there before the first export starts
        release_run(model)
    reader_runs()
    results = [export_release(model, store, prune=prune, progress=progress) for model in models]
    paths = write(results, report_dir, report_name)
    best = results[0]
    new_id = bundle_id(f"pianocoach-{best.model}")
    out = artifacts_dir() / "bundles" / new_id
    scorer = scorer_model(best)
    models = [scorer, reader_model(progress)]
    write_scaled(models, signing_key(key_path), out, out.with_suffix(".tar"), new_id, None, best.run_dir, store)
    return ExportedBundle(results, paths, out, scorer)


def sound_check_entry() -> BundleModel | None:
    """The sound check trained in artifacts/ (``make sound-check``), else the committed bundle's (verified), else
    none: microphone takes then go unchecked."""
    from pianocoach.features.sound_profile import PROFILE_VERSION
    from pianocoach_export.bundle_additions import added_entry
    from pianocoach_export.sound_check_export import SOUND_CHECK_ROLE, SoundCheckMissing, trained_sound_check

    return added_entry(SOUND_CHECK_ROLE, trained_sound_check, SoundCheckMissing, {"profile_version": PROFILE_VERSION})


def pedal_entry() -> BundleModel | None:
    """The pedal model trained in artifacts/ (``make pedal-model``), else the committed bundle's (verified), else
    none: the pedal of microphone takes is then unknown."""
    from pianocoach.features.pedal_frames import PEDAL_FRAMES_VERSION
    from pianocoach.features.sound_profile import MEL_BANDS
    from pianocoach_export.bundle_additions import added_entry
    from pianocoach_export.pedal_export import PEDAL_ROLE, PedalModelMissing, trained_pedal_model

    current = {"frames_version": PEDAL_FRAMES_VERSION, "bands": MEL_BANDS}
    return added_entry(PEDAL_ROLE, trained_pedal_model, PedalModelMissing, current)


def note_end_entry() -> BundleModel | None:
    """The note-end model trained in artifacts/ (``make note-end-model``), else the committed bundle's (verified), else
    none: microphone takes' notes then keep the ends the transcriber heard."""
    from pianocoach.features.note_ends import FEATURE_NAMES, NOTE_END_VERSION
    from pianocoach_export.bundle_additions import added_entry
    from pianocoach_export.note_end_export import NOTE_END_ROLE, NoteEndModelMissing, trained_note_end_model

    current = {"features_version": NOTE_END_VERSION, "features": list(FEATURE_NAMES)}
    return added_entry(NOTE_END_ROLE, trained_note_end_model, NoteEndModelMissing, current)


def velocity_entry() -> BundleModel | None:
    """The velocity model trained in artifacts/ (``make velocity-model``), else the committed bundle's (verified), else
    none: the key velocities of microphone takes are then unknown."""
    from pianocoach.features.note_velocity import FEATURE_NAMES, NOTE_VELOCITY_VERSION
    from pianocoach_export.bundle_additions import added_entry
    from pianocoach_export.velocity_export import VELOCITY_ROLE, VelocityModelMissing, trained_velocity_model

    current = {"features_version": NOTE_VELOCITY_VERSION, "features": list(FEATURE_NAMES)}
    return added_entry(VELOCITY_ROLE, trained_velocity_model, VelocityModelMissing, current)


@dataclass
class DefaultBundle:
    """What ``make bundle`` made."""

    path: Path
    tar_path: Path
    result: object  # the scorer's ExportResult
    scorer: BundleModel
    reader: BundleModel
    audio: list
    audio_path: dict


def assemble_default_bundle(
    model: str, store_factory, key_path: Path | None, reader: str = "keep", audio: str = "train", progress: bool = True
) -> DefaultBundle:
    """Rebuild the committed default bundle: the release ``model``; the jianzipu reader and the audio path
    kept from the committed bundle (``"keep"``, verified first) or exported from their release runs
    (``"train"``: ``make jianzipu-reader`` / ``make audio-release`` trained them)."""
    import pianocoach.bundle
    from pianocoach_export.trained_models import audio_release_run, reader_runs, release_run
    from pianocoach_train.audio.path_choice import choose_audio_path, release_models
    from pianocoach_train.runs import artifacts_dir

    release_run(model)  # every trained model there before anything is exported or replaced
    if reader == "train":
        reader_runs()
    if audio == "train":
        for name in release_models(choose_audio_path()):
            audio_release_run(name)
    keep = ((READER_ROLE,) if reader == "keep" else ()) + (AUDIO_ROLES if audio == "keep" else ())
    kept, kept_audio_path = kept_models(keep) if keep else ({}, {})  # before anything replaces the bundle
    sound_check, pedal, velocity, note_end = sound_check_entry(), pedal_entry(), velocity_entry(), note_end_entry()
    store = store_factory()
    result = export_release(model, store, prune=False, progress=progress)
    tar_path = artifacts_dir() / "bundles" / "default.tar"
    scorer = scorer_model(result)
    reader_entry = kept.get(READER_ROLE) or reader_model(progress)
    if audio == "keep":
        audio_entries, audio_path = [kept[role] for role in AUDIO_ROLES if role in kept], kept_audio_path
    else:
        audio_entries, audio_path = audio_models(progress)
    default = pianocoach.bundle.DEFAULT_BUNDLE
    models = [
        scorer,
        reader_entry,
        *audio_entries,
        *(m for m in (sound_check, pedal, velocity, note_end) if m is not None),
    ]
    models = without_unpaired_note_end(models)  # one trained with an older pedal model than the one going in
    key = signing_key(key_path)
    write_scaled(models, key, default, tar_path, bundle_id(f"default-{model}"), audio_path, result.run_dir, store)
    return DefaultBundle(default, tar_path, result, scorer, reader_entry, audio_entries, audio_path)
