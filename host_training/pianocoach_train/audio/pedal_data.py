"""Training and test data of the pedal model: PercePiano performances rendered with their sustain pedal, turned into
the frames the device's pedal model reads and the pedal state (CC64 >= 64) at each frame's centre.

- training and early stopping: the performer split's non-test takes through the training soundfonts, each with
  the augmentation ``renders.render_take`` draws (tempo and velocity, rooms from dry to reverberant, microphone
  colour, noise, level);
- test: the performer test list through the held-out soundfont, clean and in a room with noise (one augmentation
  drawn per take from a fixed seed, as for training soundfonts).

Kept outside git in ``.cache/pedal/<code hash>/``, one ``.npz`` per (soundfont, condition, take); the hash covers
this file and the device's frame code, so changing either renders again.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pianocoach.features.audio import resample
from pianocoach.features.notes import pedal_values_at
from pianocoach.features.pedal_frames import PEDAL_FRAMES_VERSION, frame_times
from pianocoach.features.sound_profile import SoundProfile
from pianocoach_train.audio import augment
from pianocoach_train.audio.renders import CAPTURE_RATE, RenderJob, render_take
from pianocoach_train.feature_store import cache_dir as features_cache_dir

log = logging.getLogger(__name__)

DOWN_FROM = 64  # CC64 at or above this is down (as the MIDI path's pedal_threshold)
SEED = 19


@dataclass(frozen=True)
class PedalTake:
    """One take's frames [MEL_BANDS, n] (dB) and pedal state per frame."""

    ident: str
    bands: np.ndarray
    down: np.ndarray


@dataclass(frozen=True)
class PedalJob:
    ident: str
    midi_path: str
    soundfont: str
    room: bool  # draw an augmentation (always for training soundfonts; the held-out "room" condition)

    def key(self) -> str:
        return f"{self.soundfont}-{'room' if self.room else 'clean'}"


@lru_cache(maxsize=1)
def code_hash() -> str:
    import pianocoach.features.pedal_frames as frames_module
    import pianocoach.features.sound_profile as profile_module

    # the takes are renders drawn by the renders' augmentation: another augmentation renders them again
    digest = hashlib.sha256(f"frames{PEDAL_FRAMES_VERSION}|augmentation{augment.VERSION}".encode())
    for path in (Path(profile_module.__file__), Path(frames_module.__file__), Path(__file__)):
        digest.update(ast.dump(ast.parse(path.read_text(encoding="utf-8"))).encode())
    return digest.hexdigest()[:12]


def cache_root() -> Path:
    return features_cache_dir().parent / "pedal" / code_hash()


def bands_of(audio: np.ndarray, rate: int = CAPTURE_RATE) -> np.ndarray:
    """The device's pedal-model frames of a recording: the sound profile's mel bands at 22,050 Hz."""
    return SoundProfile().feed(resample(audio, rate))


def labels(pedal_events: np.ndarray, count: int) -> np.ndarray:
    """Pedal down (CC64 >= 64) at the centre of each of ``count`` frames."""
    return pedal_values_at(np.asarray(pedal_events, dtype=np.float64), frame_times(count)) >= DOWN_FROM


def make_take(job: PedalJob) -> PedalTake:
    render = RenderJob(job.ident, job.midi_path, job.soundfont, SEED, transcribe=False)
    audio, table, _ = render_take(render)
    if job.room and not render.augmented:  # the held-out soundfont in a room: one drawn augmentation
        rng = np.random.default_rng([SEED, zlib.crc32(b"room"), zlib.crc32(job.ident.encode())])
        audio = augment.apply(audio, augment.draw(rng), CAPTURE_RATE)
    bands = bands_of(audio)
    return PedalTake(job.ident, bands.astype(np.float16), labels(table.pedal_events, bands.shape[1]))


def _cached(job: PedalJob) -> PedalTake:
    path = cache_root() / job.key() / f"{job.ident}.npz"
    if path.is_file():
        with np.load(path) as data:
            return PedalTake(job.ident, data["bands"], data["down"])
    take = make_take(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, bands=take.bands, down=take.down)
    tmp.replace(path)
    return take


def takes(jobs: list[PedalJob], workers: int = 2, desc: str = "render pedal frames") -> list[PedalTake]:
    """Every job's take, rendered once and cached."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(_cached, jobs, chunksize=4), total=len(jobs), desc=desc, unit="take", disable=None))
