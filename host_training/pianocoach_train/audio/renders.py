"""Rendered PercePiano: every performance through every soundfont, augmented (training soundfonts) or
clean (the held-out one), turned into the device's audio feature blocks and, where asked, transcribed
by the device's transcription code into a descriptor vector. Cached outside git, one ``.npz`` per
(soundfont, performance) under ``.cache/audio/<feature hash>/<soundfont>/`` with ``manifest.json``
beside it (seed, augmentation drawn, audio sha256, duration, blocks). The same seed gives the same
augmentations and, per fresh synthesiser, the same audio.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pianocoach.errors import PianoCoachError
from pianocoach.features import DEFAULT_SETTINGS, NoteTable, feature_vector, read_midi
from pianocoach.features.audio import frames_per_block, performance_features, resample, stack_blocks
from pianocoach.features.sound_profile import SoundProfile
from pianocoach.jsonio import read_json, write_json_atomic
from pianocoach_train.audio import augment, noises
from pianocoach_train.audio.soundfonts import HELD_OUT, soundfont
from pianocoach_train.feature_store import cache_dir as features_cache_dir

log = logging.getLogger(__name__)

CAPTURE_RATE = DEFAULT_SETTINGS.capture_rate
# what a transcribed render keeps: 2 = the heard notes and the sound profile's frames beside the descriptor vector
# (1, or true, was the vector alone: such renders are transcribed again)
HEARD_VERSION = 2


def cache_root() -> Path:
    return features_cache_dir().parent / "audio" / DEFAULT_SETTINGS.sha256()[:12]


@dataclass(frozen=True)
class RenderJob:
    ident: str
    midi_path: str
    soundfont: str
    seed: int
    transcribe: bool

    @property
    def augmented(self) -> bool:
        return self.soundfont != HELD_OUT

    def rng(self) -> np.random.Generator:
        """Seeded by (seed, soundfont, performance): independent of job order and worker."""
        return np.random.default_rng([self.seed, zlib.crc32(self.soundfont.encode()), zlib.crc32(self.ident.encode())])


_SYNTHS: dict = {}


def _synth(name: str):
    """The process's synthesiser for this soundfont's file (shared by its programmes)."""
    from pianocoach_train.audio.synth import Synth

    path = str(soundfont(name).path)
    if path not in _SYNTHS:
        _SYNTHS[path] = Synth(path, CAPTURE_RATE)
    return _SYNTHS[path]


def render_audio(job: RenderJob, synth=None) -> tuple[np.ndarray, dict]:
    """The job's audio at the capture rate, and what was drawn for it."""
    audio, _, drawn = render_take(job, synth)
    return audio, drawn


def played_table(job: RenderJob) -> tuple[NoteTable, augment.AudioAugmentation]:
    """The notes and pedals the job plays (tempo-augmented when drawn) and the audio augmentation drawn, without
    rendering anything."""
    table = read_midi(job.midi_path)
    aug = augment.CLEAN
    if job.augmented:
        rng = job.rng()
        aug = augment.draw(rng)
        if aug != augment.CLEAN:
            table = augment.augment_table(table, rng)
    return table, aug


def render_take(job: RenderJob, synth=None) -> tuple[np.ndarray, NoteTable, dict]:
    """The job's audio at the capture rate, the notes and pedals it plays (tempo-augmented), and what was drawn."""
    table, aug = played_table(job)
    drawn: dict = {"midi": None, "audio": aug.to_dict()}
    if aug != augment.CLEAN:
        drawn["midi"] = "tempo/velocity/pitch drawn from AudioAugmentRanges.midi"
    audio = (synth or _synth(job.soundfont)).render(table, soundfont(job.soundfont).program)
    return augment.apply(audio, aug, CAPTURE_RATE), table, drawn


def heard_notes(resampled: np.ndarray) -> np.ndarray:
    """The device's transcription of a recording at 22,050 Hz: rows (onset s, offset s, pitch, amplitude)."""
    from pianocoach.transcription import StreamingTranscriber

    transcriber = StreamingTranscriber(threads=1)  # opening nmp.onnx (230 KB) costs a few ms
    transcriber.feed(resampled)
    return np.array(transcriber.notes(final=True), dtype=np.float64).reshape(-1, 4)


def notes_vector(
    notes: np.ndarray, pedal_events: np.ndarray | None = None, hear_velocities=None, hear_ends=None
) -> np.ndarray:
    """Heard notes (with the pedal heard with them, ``hear_velocities(table)``'s velocities instead of basic-pitch's
    amplitudes and ``hear_ends(table)``'s ends instead of basic-pitch's) as the MIDI scorer's descriptor vector (NaN: no
    notes). Both models read the notes as basic-pitch gave them, as they learned (and as the device does)."""
    from pianocoach.transcription import notes_to_table

    table = notes_to_table([tuple(row) for row in notes], "transcription")
    if table is None:
        return np.full(len(DEFAULT_SETTINGS.vector_names), np.nan, dtype=np.float32)
    changes = {}
    if hear_ends is not None:
        changes["offset"] = hear_ends(table)
    if hear_velocities is not None:  # before the pedal, as the device's session (its velocities are of the notes)
        changes["velocity"] = hear_velocities(table)
    if changes:
        table = table.with_columns(**changes)
    if pedal_events is not None:
        table = table.with_columns(pedal_events=pedal_events)
    return feature_vector(table).astype(np.float32)


def transcription_vector(audio: np.ndarray, rate: int) -> np.ndarray:
    """The device's transcription of a recording, as the MIDI scorer's descriptor vector (NaN: no notes)."""
    return notes_vector(heard_notes(resample(audio, rate)))


def run_job(job: RenderJob) -> dict:
    out = cache_root() / job.soundfont / f"{job.ident}.npz"
    audio, drawn = render_audio(job)
    blocks = performance_features(audio, CAPTURE_RATE)
    frames = frames_per_block()
    arrays = (
        stack_blocks(blocks)
        if blocks
        else {
            "mel": np.zeros((0, 1, DEFAULT_SETTINGS.mel_bands, frames)),
            "contour": np.zeros((0, 3, frames)),
            "rhythm": np.zeros((0, 2)),
        }
    )
    arrays = {
        "mel": arrays["mel"].astype(np.float16),
        "contour": arrays["contour"].astype(np.float16),
        "rhythm": arrays["rhythm"].astype(np.float32),
        "activity": np.array([b.activity for b in blocks], dtype=np.float32),
        "level_db": np.array([b.level_db for b in blocks], dtype=np.float32),
        "augmentation": np.array(augment.VERSION if job.augmented else 0),  # load_render refuses another's
    }
    if job.transcribe:
        # what the device hears, kept so that models reading it (the pedal model) apply without rendering again
        resampled = resample(audio, CAPTURE_RATE)
        arrays["heard_notes"] = heard_notes(resampled)
        arrays["profile_bands"] = SoundProfile().feed(resampled).astype(np.float16)
        arrays["transcription"] = notes_vector(arrays["heard_notes"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(out)
    return {
        "id": job.ident,
        "soundfont": job.soundfont,
        "seed": job.seed,
        "augmented": job.augmented,
        "drawn": drawn,
        "audio_sha256": hashlib.sha256(np.round(audio * 32767).astype(np.int16).tobytes()).hexdigest(),
        "duration_s": round(len(audio) / CAPTURE_RATE, 3),
        "blocks": len(blocks),
        "transcribed": job.transcribe and HEARD_VERSION,
    }


def _manifest_path(name: str) -> Path:
    return cache_root() / name / "manifest.json"


def render_soundfont(
    name: str,
    midi_files: dict[str, Path],
    seed: int = 0,
    transcribe: bool = False,
    workers: int = min(2, os.cpu_count() or 1),
) -> dict:
    """Render (or reuse) every performance through one soundfont; returns its manifest."""
    soundfont(name)
    path = _manifest_path(name)
    fresh = {"soundfont": name, "seed": seed, "augmentation": augment.VERSION, "renders": {}}
    manifest = read_json(path) if path.is_file() else fresh
    if manifest.get("seed") != seed:
        log.warning("%s: rendered with seed %s before; rendering again with seed %d", name, manifest.get("seed"), seed)
        manifest = fresh
    elif _stale_augmentation(name, manifest):
        log.warning(
            "%s: rendered with augmentation %s before; rendering again with augmentation %d",
            name,
            manifest.get("augmentation", 1),
            augment.VERSION,
        )
        manifest = fresh
    manifest["augmentation"] = augment.VERSION
    todo = [
        RenderJob(i, str(p), name, seed, transcribe)
        for i, p in sorted(midi_files.items())
        if i not in manifest["renders"] or (transcribe and manifest["renders"][i].get("transcribed") != HEARD_VERSION)
    ]
    if todo:
        if soundfont(name).name != HELD_OUT:
            noises.require_espeak()  # someone talking in the room: fail now, not an hour in
        log.info("%s: rendering %d performances (%d cached)", name, len(todo), len(midi_files) - len(todo))
        bar = dict(total=len(todo), desc=f"render {name}", unit="file", disable=None)
        if workers <= 1:
            results = tqdm(map(run_job, todo), **bar)
            _collect(results, manifest, path)
        else:
            # forkserver: a process forked after ONNX Runtime started its threads can hang (feature_store.py)
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
                _collect(tqdm(pool.map(run_job, todo, chunksize=4), **bar), manifest, path)
    return manifest


def _collect(results, manifest: dict, path: Path) -> None:
    """Record finished renders; the manifest is saved every 100 so an interrupted run resumes."""
    for n, entry in enumerate(results):
        manifest["renders"][entry["id"]] = entry
        if n % 100 == 99:
            write_json_atomic(path, manifest)
            log.info("%s: %d rendered", manifest["soundfont"], len(manifest["renders"]))
    write_json_atomic(path, manifest)


def _stale_augmentation(name: str, manifest: dict) -> bool:
    """Whether an augmented soundfont's renders were drawn by another augmentation than this code's (the held-out
    soundfont's are clean: any version)."""
    return name != HELD_OUT and manifest.get("augmentation", 1) != augment.VERSION


class StaleRendersError(PianoCoachError, RuntimeError):
    """Renders made by another augmentation: what this code would draw for them is not what they hold."""


def rendered_manifest(name: str) -> dict:
    """The soundfont's render manifest, refused when its renders are missing or were augmented by other code (the
    note tables ``played_table`` draws for them would not be the ones they played)."""
    path = _manifest_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {name} is not rendered (run: make audio-render)")
    manifest = read_json(path)
    if _stale_augmentation(name, manifest):
        raise StaleRendersError(
            f"{path}: rendered with augmentation {manifest.get('augmentation', 1)}, this code draws augmentation "
            f"{augment.VERSION} (run: make audio-render)"
        )
    return manifest


def load_render(name: str, ident: str) -> dict[str, np.ndarray]:
    """The cached arrays of one performance rendered with one soundfont."""
    file = cache_root() / name / f"{ident}.npz"
    if not file.is_file():
        raise FileNotFoundError(f"{file}: not rendered (run: make audio-render)")
    with np.load(file) as data:
        arrays = {k: data[k] for k in data.files}
    if _stale_augmentation(name, {"augmentation": int(arrays.pop("augmentation", 1))}):
        raise StaleRendersError(
            f"{file}: rendered with another augmentation than this code's {augment.VERSION} (run: make audio-render)"
        )
    return arrays


def load_renders(name: str, ids) -> dict[str, dict[str, np.ndarray]]:
    """The cached arrays of these performances for one soundfont."""
    return {ident: load_render(name, ident) for ident in ids}
