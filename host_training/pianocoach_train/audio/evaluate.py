"""The audio comparison: every path scored on audio rendered with the held-out soundfont, on the
published splits and folds (``evaluation.protocol_folds``), one fold model each, mean over folds.

Rows: the MIDI scorer (blend) on the true MIDI; the same scorer on the device's transcription of the
held-out render; the MIDI scorer family retrained on transcriptions of training renders (the
transcription path); PC-FCN, M-CRNN, Hybrid (block models, aggregated per performance by the plain and
the activity-weighted mean of blocks); and the fusion of the best audio model with the transcription
path (the mean of their per-performance scores). Figures land in ``reports/audio/audio_eval.json``;
the export step adds INT8 sizes and latencies and writes the table (``pianocoach_export audio``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from functools import cached_property
from pathlib import Path

import numpy as np

from pianocoach.errors import PianoCoachError
from pianocoach.jsonio import write_json_atomic
from pianocoach_train.audio import augment
from pianocoach_train.audio.data import RenderedSet
from pianocoach_train.audio.heard_note_end import CrossFitNoteEnds, NoteEndSource, crossfit_source, note_end_source
from pianocoach_train.audio.heard_pedal import PedalSource, pedal_source
from pianocoach_train.audio.heard_velocity import VelocitySource, velocity_source
from pianocoach_train.audio.models import ARCHITECTURES
from pianocoach_train.audio.soundfonts import HELD_OUT, TRAINING, training_soundfonts
from pianocoach_train.audio.train import AUDIO_CONFIG, train_audio_run
from pianocoach_train.evaluation import mean_summary, passage_groups, protocol_folds
from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.metrics import summarise
from pianocoach_train.paths import percepiano_root
from pianocoach_train.percepiano.dataset import PercePiano
from pianocoach_train.runs import artifacts_dir, finished_run, train_run
from pianocoach_train.train_config import TrainConfig

log = logging.getLogger(__name__)

TRANSCRIPTION_SOUNDFONT = "fluidr3_gm"  # the transcription path's first training soundfont (also its validation)
# every render it learns from: all the training pianos
TRANSCRIPTION_SOUNDFONTS = (TRANSCRIPTION_SOUNDFONT, *(n for n in TRAINING if n != TRANSCRIPTION_SOUNDFONT))
# the transcription path, and the same with the pedal the bundle's pedal model hears in the renders (issue 19, item 3:
# measured beside it, not adopted: see the README's *The scorer hears the pedal*)
# and with the key velocities the bundle's velocity model hears instead of basic-pitch's amplitudes
# and with those velocities and the note ends the bundle's note-end model hears instead of basic-pitch's (measured)
TRANSCRIPTION_ROWS = (
    "transcription",
    "transcription_heard_pedal",
    "transcription_heard_velocity",
    "transcription_heard_ends",
    "transcription_heard_ends_crossfit",
)
# the transcription path a bundle ships (make bundle, make bundle-transcription): the one with the heard velocities
# (performer R² 0.347 -> 0.351, piece 0.396 -> 0.418, work -0.158 -> -0.124 on held-out-soundfont renders, README)
SHIPPED_TRANSCRIPTION = "transcription_heard_velocity"
FUSION_GRID = np.linspace(0.0, 1.0, 11)  # audio-model shares tried; the one with the lowest validation MSE is used


class TranscribedStore(FeatureStore):
    """A FeatureStore whose vectors are the descriptors of transcribed renders, so the MIDI scorer family
    trains and predicts on transcriptions unchanged: copy 0 is ``rendered`` (what validation and
    prediction see), copy k the k-th of ``more`` (the other training soundfonts, as augmented copies)."""

    def __init__(
        self,
        dataset: PercePiano,
        rendered: RenderedSet,
        more: tuple[RenderedSet, ...] = (),
        pedal: PedalSource | None = None,
        velocity: VelocitySource | None = None,
        note_end: NoteEndSource | CrossFitNoteEnds | None = None,
    ) -> None:
        super().__init__(dataset)
        self.rendered = rendered
        self.sets = (rendered, *more)
        self.pedal = pedal  # with a pedal model: the transcriptions carry the pedal it hears, as on the device
        self.velocity = velocity  # with a velocity model: the velocities it hears replace basic-pitch's amplitudes
        self.note_end = note_end  # with a note-end model: the ends it hears replace basic-pitch's
        self._matrices: dict[int, np.ndarray] = {}

    def run_identity(self) -> dict:
        # runs on transcriptions with another pedal (or velocity) model's output, or none, are trained again, and so
        # are runs on other pianos' renders or renders drawn by other augmentation
        identity = self.pedal.run_identity() if self.pedal is not None else {"heard_pedal": None}
        identity["renders"] = transcription_renders([s.soundfont for s in self.sets])
        if self.velocity is not None:
            identity.update(self.velocity.run_identity())
        if self.note_end is not None:
            identity.update(self.note_end.run_identity())
        return identity

    def vectors(self, copy: int = 0, seed: int = 0, ranges=None) -> np.ndarray:
        if copy not in self._matrices:
            self._matrices[copy] = self.sets[copy].transcription_matrix(
                self.ids, self.pedal, self.velocity, self.note_end
            )
        return self._matrices[copy]


def transcription_renders(soundfonts: list[str] | None = None) -> dict:
    """The renders a transcription-path run learned from, as its run records them (another set is trained again)."""
    return {"soundfonts": soundfonts or list(TRANSCRIPTION_SOUNDFONTS), "augmentation": augment.VERSION}


# Rows per leaf of the transcription blend's extra-trees forest, per soundfont: a leaf then holds at least this many
# performances, however many pianos render them (the MIDI blend's 6 was set for two rows a performance).
LEAF_PERFORMANCES = 3


def transcription_config() -> TrainConfig:
    """The blend, its "augmented copies" being the other soundfonts' transcriptions.

    Each performance gives one row per soundfont (the same notes through another piano, most of them in a drawn room),
    so a leaf of the extra-trees forest holds ``LEAF_PERFORMANCES`` rows per soundfont: with four pianos and the MIDI
    blend's 6, the forest grew twice the leaves (7.0 MB of ONNX against 4.3, 29 MB more in ONNX Runtime) to split
    the renders of one performance apart."""
    renders = len(TRANSCRIPTION_SOUNDFONTS)
    return TrainConfig(
        model="blend",
        augment=renders > 1,
        augment_copies=max(1, renders - 1),
        min_samples_leaf=LEAF_PERFORMANCES * max(1, renders),
    )


class AudioEvaluation:
    def __init__(self, dataset: PercePiano, progress: bool = True, quick: bool = False, workers: int = 2) -> None:
        self.dataset = dataset
        self.quick = quick
        self.workers = workers  # for the MIDI feature store
        self.progress = progress
        self.ids = sorted(dataset.midi_files)
        self.scorers: dict[tuple[str, str, int], object] = {}  # (model, split, fold) -> trained scorer
        self.labels = {i: np.asarray(dataset.labels[i], dtype=np.float32) for i in self.ids}

    @cached_property
    def held_out(self) -> RenderedSet:
        return RenderedSet.load(HELD_OUT, self.ids, self.progress)

    @cached_property
    def training_sets(self) -> list[RenderedSet]:
        return [RenderedSet.load(name, self.ids, self.progress) for name in training_soundfonts(TRAINING)]

    @cached_property
    def midi_store(self) -> FeatureStore:
        return FeatureStore(self.dataset, workers=self.workers)

    @cached_property
    def pedal(self) -> PedalSource:
        """The pedal model whose heard pedal the transcription path learns from (the one its bundle will carry)."""
        return pedal_source()

    @cached_property
    def _transcription_sets(self) -> list[RenderedSet]:
        loaded = {
            s.soundfont: s for s in self.__dict__.get("training_sets", [])
        }  # reuse blocks the audio models loaded
        return [
            loaded.get(name) or RenderedSet.load(name, self.ids, self.progress)
            for name in training_soundfonts(TRANSCRIPTION_SOUNDFONTS)
        ]

    @cached_property
    def transcribed_train(self) -> TranscribedStore:
        sets = self._transcription_sets
        return TranscribedStore(self.dataset, sets[0], tuple(sets[1:]))

    @cached_property
    def transcribed_test(self) -> TranscribedStore:
        return TranscribedStore(self.dataset, self.held_out)

    @cached_property
    def heard_pedal_train(self) -> TranscribedStore:
        """The transcriptions with the pedal the pedal model hears in the renders (as the device would score them)."""
        sets = self._transcription_sets
        return TranscribedStore(self.dataset, sets[0], tuple(sets[1:]), pedal=self.pedal)

    @cached_property
    def heard_pedal_test(self) -> TranscribedStore:
        return TranscribedStore(self.dataset, self.held_out, pedal=self.pedal)

    @cached_property
    def velocity(self) -> VelocitySource:
        """The velocity model whose heard velocities the transcription path learns from (the one its bundle carries)."""
        return velocity_source()

    @cached_property
    def heard_velocity_train(self) -> TranscribedStore:
        """The transcriptions with the key velocities the velocity model hears in the renders (basic-pitch's notes)."""
        sets = self._transcription_sets
        return TranscribedStore(self.dataset, sets[0], tuple(sets[1:]), velocity=self.velocity)

    @cached_property
    def heard_velocity_test(self) -> TranscribedStore:
        return TranscribedStore(self.dataset, self.held_out, velocity=self.velocity)

    @cached_property
    def note_end(self) -> NoteEndSource:
        """The note-end model whose heard ends the transcription path may learn from (the one its bundle carries)."""
        return note_end_source()

    @cached_property
    def heard_ends_train(self) -> TranscribedStore:
        """The transcriptions with the velocities and the note ends the bundle's models hear in the renders."""
        sets = self._transcription_sets
        return TranscribedStore(self.dataset, sets[0], tuple(sets[1:]), velocity=self.velocity, note_end=self.note_end)

    @cached_property
    def heard_ends_test(self) -> TranscribedStore:
        return TranscribedStore(self.dataset, self.held_out, velocity=self.velocity, note_end=self.note_end)

    @cached_property
    def heard_ends_crossfit_train(self) -> TranscribedStore:
        """The same with each take's ends from the cross-fitted note-end model that never heard its performance."""
        sets = self._transcription_sets
        return TranscribedStore(
            self.dataset, sets[0], tuple(sets[1:]), velocity=self.velocity, note_end=crossfit_source()
        )

    @cached_property
    def heard_ends_crossfit_test(self) -> TranscribedStore:
        return TranscribedStore(self.dataset, self.held_out, velocity=self.velocity, note_end=crossfit_source())

    def transcription_stores(self, model: str) -> tuple[TranscribedStore, TranscribedStore]:
        """(training, test) vectors of a transcription row."""
        if model == "transcription_heard_ends_crossfit":
            return self.heard_ends_crossfit_train, self.heard_ends_crossfit_test
        if model == "transcription_heard_ends":
            return self.heard_ends_train, self.heard_ends_test
        if model == "transcription_heard_pedal":
            return self.heard_pedal_train, self.heard_pedal_test
        if model == "transcription_heard_velocity":
            return self.heard_velocity_train, self.heard_velocity_test
        return self.transcribed_train, self.transcribed_test

    def fold_predictions(self, model: str, fold, runs: Path) -> dict[str, np.ndarray]:
        """Per-performance predictions on ``fold.test`` ({variant: array}); for the block models the
        plain mean and the activity-weighted mean."""
        run_dir = runs / model / fold.split / f"fold_{fold.fold}"
        provenance = {"split": fold.split, "fold": fold.fold, "test_ids": list(fold.test), "test_soundfont": HELD_OUT}
        if model in ("midi_true", "midi_on_transcription"):
            scorer = train_run(
                TrainConfig(),
                self.midi_store,
                fold.train,
                fold.validation,
                artifacts_dir() / "runs" / "blend" / fold.split / f"fold_{fold.fold}",
                provenance,
                self.progress,
            )
            store = self.midi_store if model == "midi_true" else self.transcribed_test
            return {"": scorer.predict(store, fold.test)}
        if model in TRANSCRIPTION_ROWS:
            train, test = self.transcription_stores(model)
            scorer = train_run(
                transcription_config(),
                train,
                fold.train,
                fold.validation,
                run_dir,
                {**provenance, "train_soundfont": ",".join(TRANSCRIPTION_SOUNDFONTS)},
                self.progress,
            )
            self.scorers[(model, fold.split, fold.fold)] = scorer
            return {"": scorer.predict(test, fold.test)}
        config = AUDIO_CONFIG.with_overrides(model=model, epochs=5 if self.quick else None)
        scorer = train_audio_run(
            config, self.training_sets, self.labels, fold.train, fold.validation, run_dir, provenance, self.progress
        )
        self.scorers[(model, fold.split, fold.fold)] = scorer
        mean, weighted = scorer.predict(self.held_out, fold.test)
        return {"mean": mean, "weighted": weighted}


_WORKER: dict = {}


def _train_fold_job(job: tuple) -> str:
    """Train one block-model fold run in a worker process (one torch thread; the data loaded once per worker)."""
    import torch

    model, split, fold_index, data, runs, quick = job
    torch.set_num_threads(1)
    if "evaluation" not in _WORKER:
        _WORKER["evaluation"] = AudioEvaluation(PercePiano.open(percepiano_root(data)), progress=False, quick=quick)
    evaluation = _WORKER["evaluation"]
    fold = protocol_folds(evaluation.dataset, split)[fold_index]
    evaluation.fold_predictions(model, fold, Path(runs))
    return f"{model} {split} fold {fold_index}"


def train_block_models(jobs: list[tuple], workers: int) -> None:
    """Fold runs of the block models, ``workers`` at a time: on 2 cores two single-threaded trainings
    finish sooner than one two-threaded training after another (small convolutions scale poorly)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    if workers <= 1:
        for job in jobs:
            log.info("trained %s", _train_fold_job(job))
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        for done in tqdm(
            pool.map(_train_fold_job, jobs), total=len(jobs), desc="audio fold models", unit="run", disable=None
        ):
            log.info("trained %s", done)


def fusion_weight(audio, notes, store: "TranscribedStore", validation: tuple[str, ...], labels: dict) -> float:
    """The audio model's share in the fusion with the lowest MSE on the validation performances, rendered
    with the transcription path's training soundfont (never the held-out one, never the test list)."""
    audio_pred = audio.predict(store.rendered, validation)[1]
    notes_pred = notes.predict(store, validation)
    truth = np.stack([labels[i] for i in validation])
    errors = [float(np.mean((w * audio_pred + (1 - w) * notes_pred - truth) ** 2)) for w in FUSION_GRID]
    return float(FUSION_GRID[int(np.argmin(errors))])


class UnknownModelError(PianoCoachError, ValueError):
    """An audio model name ``audio eval --models`` does not know."""


def _summary(labels: np.ndarray, prediction: np.ndarray, ids) -> dict:
    return summarise(labels, prediction, passage_groups(ids))


def run_audio_eval(
    models: tuple[str, ...],
    splits: tuple[str, ...],
    out: Path,
    data: Path | None = None,
    quick: bool = False,
    workers: int = min(2, os.cpu_count() or 1),
) -> str:
    unknown = [m for m in models if m not in TRANSCRIPTION_ROWS and m not in ARCHITECTURES]
    if unknown:
        raise UnknownModelError(
            f"unknown audio model {unknown[0]!r} (known: {', '.join((*TRANSCRIPTION_ROWS, *ARCHITECTURES))})"
        )
    started = time.perf_counter()
    dataset = PercePiano.open(percepiano_root(data))
    evaluation = AudioEvaluation(dataset, progress=sys.stderr.isatty(), quick=quick, workers=workers)
    runs = artifacts_dir() / "runs" / ("audio-quick" if quick else "audio")
    rows = ["midi_true", "midi_on_transcription", *models]
    report: dict = {
        "held_out_soundfont": HELD_OUT,
        "training_soundfonts": list(TRAINING),
        "transcription_soundfonts": list(TRANSCRIPTION_SOUNDFONTS),
        "heard_pedal": {"model": str(evaluation.pedal.path), "sha256": evaluation.pedal.sha256}
        if "transcription_heard_pedal" in models
        else None,
        "heard_velocity": {"model": str(evaluation.velocity.path), "sha256": evaluation.velocity.sha256}
        if {"transcription_heard_velocity", "transcription_heard_ends"} & set(models)
        else None,
        "heard_note_end": {"model": str(evaluation.note_end.path), "sha256": evaluation.note_end.sha256}
        if "transcription_heard_ends" in models
        else None,
        "heard_note_end_crossfit": {"folds": str(crossfit_source().folder), **crossfit_source().run_identity()}
        if "transcription_heard_ends_crossfit" in models
        else None,
        "fusion_grid": FUSION_GRID.tolist(),
        "audio_config": AUDIO_CONFIG.to_dict(),
        "transcription_config": transcription_config().to_dict(),  # the transcription rows' blend (its leaf size)
        "splits": {},
        "quick": quick,
    }
    if quick:
        splits = ("performer",)
    jobs = [
        (model, split, fold.fold, data, str(runs), quick)
        for model in models
        if model in ARCHITECTURES
        for split in splits
        for fold in protocol_folds(dataset, split)
        if not (quick and fold.fold > 0)
    ]
    train_block_models(jobs, workers)
    for split in splits:
        per_model: dict[str, list[dict]] = {}
        for fold in protocol_folds(dataset, split):
            if quick and fold.fold > 0:
                continue
            labels = np.stack([evaluation.labels[i] for i in fold.test])
            predictions = {}
            for model in rows:
                log.info("%s: %s split, fold %d", model, split, fold.fold)
                for variant, prediction in evaluation.fold_predictions(model, fold, runs).items():
                    name = model + (f":{variant}" if variant else "")
                    predictions[name] = prediction
                    per_model.setdefault(name, []).append(
                        {**_summary(labels, prediction, fold.test), "fold": fold.fold}
                    )
                    log.info("  %s R2 %.3f", name, per_model[name][-1]["r2"])
            if "transcription" in rows:
                notes = evaluation.scorers[("transcription", split, fold.fold)]
                for model in ARCHITECTURES:
                    key = f"{model}:weighted"
                    if key in predictions:
                        w = fusion_weight(
                            evaluation.scorers[(model, split, fold.fold)],
                            notes,
                            evaluation.transcribed_train,
                            fold.validation,
                            evaluation.labels,
                        )
                        fused = w * predictions[key] + (1 - w) * predictions["transcription"]
                        predictions[f"fusion_{model}"] = fused
                        per_model.setdefault(f"fusion_{model}", []).append(
                            {**_summary(labels, fused, fold.test), "fold": fold.fold, "audio_weight": w}
                        )
                        log.info(
                            "  fusion_%s (audio weight %.1f from validation) R2 %.3f",
                            model,
                            w,
                            per_model[f"fusion_{model}"][-1]["r2"],
                        )
        report["splits"][split] = {
            name: {"folds": folds, "mean": mean_summary(folds)} for name, folds in per_model.items()
        }
    if "transcription_heard_pedal" in models:
        report["heard_pedal"]["quality"] = _heard_pedal_quality(evaluation)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    report["figures"] = _grad_cam(runs, dataset, evaluation, out)
    path = out / ("audio_eval-quick.json" if quick else "audio_eval.json")
    write_json_atomic(path, report)
    lines = [f"{'model':28s} " + " ".join(f"{s:>10s}" for s in report["splits"])]
    for name in report["splits"][splits[0]]:
        lines.append(
            f"{name:28s} " + " ".join(f"{report['splits'][s][name]['mean']['r2']:10.3f}" for s in report["splits"])
        )
    return "\n".join(lines) + f"\n\nR² on {HELD_OUT} renders; report: {path}"


def _heard_pedal_quality(evaluation: AudioEvaluation) -> dict:
    """The heard pedal the transcription path learned from (the performer split's training performances, first
    training soundfont) against the one it is tested on (the performer test list, held-out soundfont): the pedal model
    trained on other renders of those training performances, so it may hear them better; the gap is what the scorer
    may over-trust."""
    from pianocoach_train.audio.heard_pedal import heard_pedal_quality

    split = evaluation.dataset.split("performer")
    test = set(split.test)
    train = [i for i in evaluation.ids if i not in test]
    files = evaluation.dataset.midi_files
    return {
        "train": {
            "soundfont": TRANSCRIPTION_SOUNDFONT,
            **heard_pedal_quality(TRANSCRIPTION_SOUNDFONT, files, train, evaluation.pedal),
        },
        "test": {"soundfont": HELD_OUT, **heard_pedal_quality(HELD_OUT, files, sorted(test), evaluation.pedal)},
    }


def _grad_cam(runs: Path, dataset: PercePiano, evaluation: AudioEvaluation, out: Path) -> dict:
    """Grad-CAM images for the mel models of the performer split's fold 0, on four test performances."""
    from pianocoach_train.audio.gradcam import save_grad_cam_figure
    from pianocoach_train.audio.train import AudioScorer

    figures = {}
    test = sorted(dataset.split("performer").test)
    chosen = [test[i] for i in np.linspace(0, len(test) - 1, 4).astype(int)]
    for model in ("m_crnn", "hybrid"):
        run_dir = runs / model / "performer" / "fold_0"
        if (run_dir / "model.pt").is_file():
            path = save_grad_cam_figure(
                AudioScorer.load(run_dir), evaluation.held_out, chosen, out / f"gradcam-{model}.png"
            )
            figures[f"gradcam_{model}"] = (
                str(path.relative_to(out.parent.parent)) if out.is_relative_to(out.parent.parent) else str(path)
            )
    return figures


def audio_release_config(model: str) -> TrainConfig:
    """The training config of the release run of ``model`` (an audio model, or "transcription")."""
    return transcription_config() if model in TRANSCRIPTION_ROWS else AUDIO_CONFIG.with_overrides(model=model)


def finished_audio_release(model: str) -> Path | None:
    """``artifacts/release/audio_<model>`` when it holds a finished run of the current config (and
    soundfonts), else None: export takes only finished runs (``make audio-release`` trains them)."""
    from pianocoach_train.release import release_dir

    out = release_dir(f"audio_{model}")
    expected: dict = {"config": audio_release_config(model).to_dict()}
    if model == "transcription_heard_pedal":  # trained with the heard pedal of the pedal model a bundle would carry
        expected.update(pedal_source().run_identity())
    elif model == "transcription_heard_velocity":  # and with the velocities of the velocity model it would carry
        expected.update({"heard_pedal": None, **velocity_source().run_identity()})
    elif model == "transcription_heard_ends":  # and with the ends of the note-end model it would carry
        expected.update({"heard_pedal": None, **velocity_source().run_identity(), **note_end_source().run_identity()})
    elif model == "transcription":
        expected["heard_pedal"] = None
    else:
        expected.update(soundfonts=list(training_soundfonts(TRAINING)), augmentation=augment.VERSION)
    if model in TRANSCRIPTION_ROWS:  # on these pianos' renders, drawn by this augmentation
        expected["renders"] = transcription_renders()
    return out if finished_run(out, expected) else None


def train_audio_release(
    model: str, data: Path | None = None, progress: bool = True, evaluation: AudioEvaluation | None = None
) -> Path:
    """Train ``model`` (an audio model, or "transcription") on the performer split minus its test list,
    early-stopping on a seeded 10 % of the rest; saved to ``artifacts/release/audio_<model>``."""
    from pianocoach_train.evaluation import hold_out
    from pianocoach_train.release import release_dir

    done = finished_audio_release(model)
    if done is not None:  # reused as train_run would, without loading the renders first
        log.info("%s already trained; reusing it", done)
        return done
    evaluation = evaluation or AudioEvaluation(PercePiano.open(percepiano_root(data)), progress)
    split = evaluation.dataset.split("performer")
    excluded = set(split.test)
    train, validation = hold_out(tuple(i for i in sorted(split.all_ids()) if i not in excluded), 0)
    out = release_dir(f"audio_{model}")
    provenance = {
        "split": "performer",
        "purpose": "release",
        "excluded_ids": sorted(excluded),
        "excluded_reason": "the performer split's test list, kept unseen for evaluation",
        "test_soundfont": HELD_OUT,
    }
    if model in TRANSCRIPTION_ROWS:
        train_run(
            audio_release_config(model),
            evaluation.transcription_stores(model)[0],
            train,
            validation,
            out,
            {**provenance, "train_soundfont": ",".join(TRANSCRIPTION_SOUNDFONTS)},
            progress,
        )
    else:
        train_audio_run(
            audio_release_config(model),
            evaluation.training_sets,
            evaluation.labels,
            train,
            validation,
            out,
            {**provenance, "train_soundfonts": list(TRAINING)},
            progress,
        )
    return out
