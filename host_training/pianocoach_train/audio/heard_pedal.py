"""The sustain pedal as the device hears it, for the transcription path (issue 19, item 3): the pedal model the bundle
ships runs over each transcribed render's sound-profile frames (kept by ``make audio-render``), chunked exactly as
on the device (:class:`pianocoach.features.pedal_frames.PedalTracker`), and the CC64 events it gives join the heard
notes before their descriptor vector is computed. Every event is kept, whatever the take's confidence: the scorer
learns how far to trust them.

The pedal model is ``artifacts/pedal/pedal.onnx`` when ``make pedal-model`` has trained one, else the committed
default bundle's; its sha256 names the vectors' cache and is written into the runs trained on them, so a bundle
pairs the transcription scorer with the pedal model it learned from.

:func:`heard_vectors` also gives the vectors with the key velocities the bundle's velocity model hears
(:mod:`pianocoach_train.audio.heard_velocity`), with or without the pedal: one cache for every such variant.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from pianocoach.features.pedal_frames import PEDAL_EVENTS_VERSION
from pianocoach.jsonio import read_json
from pianocoach.scoring.pedal_model import PEDAL_ROLE, PedalModel, pedal_from_probabilities
from pianocoach_train.audio.model_source import ModelSource, NotHeardError, find_source, onnx_session
from pianocoach_train.audio.renders import HEARD_VERSION, cache_root, load_render, notes_vector

if TYPE_CHECKING:
    from pianocoach_train.audio.heard_note_end import CrossFitNoteEnds, NoteEndSource
    from pianocoach_train.audio.heard_velocity import VelocitySource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PedalSource(ModelSource):
    """A pedal model file, its sha256 and the metrics the device checks it by."""

    def run_identity(self) -> dict:
        """What a run trained on this model's heard pedal records, and must match to be reused."""
        return {"heard_pedal": self.sha256, "pedal_events_version": PEDAL_EVENTS_VERSION}


def pedal_source() -> PedalSource:
    """The trained pedal model (``artifacts/pedal``) when there is one, else the committed default bundle's."""
    return find_source(PedalSource, PEDAL_ROLE, "pedal", "pedal.onnx", "pedal-model")


def pedal_model(source: PedalSource) -> PedalModel:
    return PedalModel(onnx_session(str(source.path), source.sha256), source.metrics, source.path)


def heard_pedal_events(bands: np.ndarray, source: PedalSource) -> np.ndarray:
    """CC64 events (time s, 0 or 127) the pedal model hears in ``bands`` [MEL_BANDS, T], as the device's tracker.
    (The renders keep the bands as float16: within 0.03 dB of the float32 the device runs on.)"""
    tracker = pedal_model(source).tracker()
    tracker.add(np.asarray(bands, dtype=np.float32))
    return pedal_from_probabilities(tracker.finish()).events


def _vector_job(
    job: tuple[str, str, "PedalSource | None", "VelocitySource | None", "NoteEndSource | CrossFitNoteEnds | None"],
) -> np.ndarray:
    soundfont, ident, pedal, velocity, note_end = job
    data = load_render(soundfont, ident)
    if "heard_notes" not in data:
        raise NotHeardError(f"{soundfont}/{ident}: rendered before the heard notes were kept (run: make audio-render)")
    bands = data["profile_bands"]
    events = heard_pedal_events(bands, pedal) if pedal is not None else None
    hear_velocities = hear_ends = None
    if velocity is not None:
        from pianocoach_train.audio.heard_velocity import heard_velocities

        hear_velocities = partial(heard_velocities, bands=bands, source=velocity)
    if note_end is not None:
        from pianocoach_train.audio.heard_note_end import heard_ends

        hear_ends = partial(heard_ends, bands=bands, source=note_end.for_take(ident))
    return notes_vector(data["heard_notes"], events, hear_velocities, hear_ends)


def _render_shas(soundfont: str) -> dict[str, str]:
    """Each render's audio sha256 from the soundfont's render manifest (a vector of other audio is stale)."""
    path = cache_root() / soundfont / "manifest.json"
    renders = read_json(path).get("renders", {}) if path.is_file() else {}
    return {ident: str(entry.get("audio_sha256")) for ident, entry in renders.items()}


def heard_pedal_vectors(
    soundfont: str,
    ids: list[str],
    source: PedalSource,
    progress: bool = True,
    workers: int = min(2, os.cpu_count() or 1),
) -> dict[str, np.ndarray]:
    """Descriptor vectors of each render's heard notes with the pedal heard in it (NaN: no notes)."""
    return heard_vectors(soundfont, ids, source, None, progress=progress, workers=workers)


def _cache_name(
    pedal: "PedalSource | None",
    velocity: "VelocitySource | None",
    note_end: "NoteEndSource | CrossFitNoteEnds | None" = None,
) -> str:
    from pianocoach.features.note_velocity import NOTE_VELOCITY_VERSION

    parts = ["heard"]
    if pedal is not None:
        parts.append(f"pedal-{pedal.sha256[:12]}-e{PEDAL_EVENTS_VERSION}")
    if velocity is not None:
        parts.append(f"velocity-{velocity.cache_tag()}-v{NOTE_VELOCITY_VERSION}")
    if note_end is not None:
        parts.append(note_end.cache_tag())
    return "-".join([*parts, f"h{HEARD_VERSION}"]) + ".npz"


def heard_vectors(
    soundfont: str,
    ids: list[str],
    pedal: "PedalSource | None",
    velocity: "VelocitySource | None",
    note_end: "NoteEndSource | CrossFitNoteEnds | None" = None,
    progress: bool = True,
    workers: int = min(2, os.cpu_count() or 1),
) -> dict[str, np.ndarray]:
    """Descriptor vectors of each render's heard notes with the pedal ``pedal`` hears in it, the velocities
    ``velocity`` hears and the ends ``note_end`` hears (any may be None, not all; NaN: no notes); cached in
    ``.cache/audio/<feature hash>/<soundfont>/heard-pedal-<sha[:12]>-e<v>-velocity-<sha[:12]>-s<spread>-v<v>-ends-
    <sha[:12]>-n<v>-h<v>.npz`` (the parts present) beside the audio sha256 each came from, so a render made again is
    heard again."""
    if pedal is None and velocity is None and note_end is None:
        raise ValueError("heard_vectors needs a pedal, velocity or note-end model")
    path = cache_root() / soundfont / _cache_name(pedal, velocity, note_end)
    shas = _render_shas(soundfont)
    cached: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as data:
            audio = json.loads(str(data["__audio_sha256__"])) if "__audio_sha256__" in data.files else {}
            cached = {k: data[k] for k in data.files if k != "__audio_sha256__" and audio.get(k) == shas.get(k)}
    todo = [i for i in ids if i not in cached]
    if todo:
        jobs = [(soundfont, i, pedal, velocity, note_end) for i in todo]
        bar = dict(total=len(jobs), desc=f"heard {soundfont}", unit="take", disable=not progress)
        if workers <= 1:
            vectors = list(tqdm(map(_vector_job, jobs), **bar))
        else:
            # forkserver: a process forked after ONNX Runtime or torch started their threads can hang (renders.py)
            context = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                vectors = list(tqdm(pool.map(_vector_job, jobs, chunksize=8), **bar))
        cached.update(zip(todo, vectors))
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        audio_shas = json.dumps({i: shas.get(i) for i in cached})
        np.savez(tmp, __audio_sha256__=np.array(audio_shas), **cached)
        tmp.replace(path)
        log.info("%s: %d vectors of what the device hears -> %s", soundfont, len(todo), path)
    return {i: cached[i] for i in ids}


def heard_pedal_quality(soundfont: str, midi_files: dict[str, Path], ids, source: PedalSource) -> dict:
    """How well the pedal model hears the pedal in these renders: frame precision / recall / F1 of pedal down through
    the device's tracker, and the mean error of the share of time down (points), against the MIDI the render played."""
    from pianocoach_train.audio.pedal_data import PedalTake, labels
    from pianocoach_train.audio.renders import RenderJob, played_table, rendered_manifest
    from pianocoach_train.pedal_model import frame_scores

    model = pedal_model(source)
    seed = int(rendered_manifest(soundfont).get("seed", 0))  # the renders' augmentation seed
    pool, errors = [], []
    for ident in ids:
        bands = load_render(soundfont, ident)["profile_bands"].astype(np.float32)
        table, _ = played_table(RenderJob(ident, str(midi_files[ident]), soundfont, seed, transcribe=True))
        down = labels(table.pedal_events, bands.shape[1])
        pool.append(PedalTake(ident, bands, down))
        tracker = model.tracker()
        tracker.add(bands)
        errors.append(abs(100 * pedal_from_probabilities(tracker.finish()).down_share - 100 * float(down.mean())))
    return {
        "takes": len(pool),
        **frame_scores(pool, model.run, device=True),
        "down_pct_mae": round(float(np.mean(errors)), 2),
    }
