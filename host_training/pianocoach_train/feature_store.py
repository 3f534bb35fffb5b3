"""Features of every PercePiano performance, computed once by the device's feature code and cached.

Each performance with a passage score in PercePiano's ``score_xml/`` is aligned with it by the device's score follower
for its score-relative descriptors (augmented copies are aligned again); the others are free play. The cache is
keyed by the feature-settings hash (bump ``FeatureSettings.version`` when the feature code
changes, or delete ``.cache/features``). Augmented copies (the device's MIDI augmentation, seeded) are
cached the same way.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pianocoach.features import (
    DEFAULT_SETTINGS,
    AugmentRanges,
    FeatureSettings,
    NoteTable,
    ScoreContext,
    feature_vector,
    random_augment,
    read_midi,
)
from pianocoach.repertoire import read_musicxml
from pianocoach.repertoire.align import align
from pianocoach.repertoire.context import score_context
from pianocoach.repertoire.unfold import PlayedScore, played_score
from pianocoach_train.paths import REPO_ROOT
from pianocoach_train.percepiano import PercePiano
from pianocoach_train.percepiano.passages import performance_scores

log = logging.getLogger(__name__)

CACHE_ENV = "PIANOCOACH_CACHE"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, REPO_ROOT / ".cache")) / "features"


@lru_cache(maxsize=32)
def _played(score_path: str) -> PlayedScore:
    """A passage score, read and unfolded once per worker (jobs come in id order: a passage's takes together)."""
    return played_score(read_musicxml(score_path))


def take_context(table: NoteTable, score_path: str | None) -> ScoreContext | None:
    """The take aligned with its passage score by the device's follower (None: no score, free play)."""
    if score_path is None:
        return None
    return score_context(align(_played(score_path), table.onset, table.pitch))


def _vector_job(job: tuple[str, int, int, AugmentRanges, str | None]) -> np.ndarray:
    path, copy, seed, ranges, score_path = job
    table = read_midi(path)
    if copy > 0:
        table = random_augment(table, np.random.default_rng([seed, copy]), ranges)
    return feature_vector(table, context=take_context(table, score_path))


@dataclass
class FeatureStore:
    dataset: PercePiano
    settings: FeatureSettings = DEFAULT_SETTINGS
    workers: int = min(2, os.cpu_count() or 1)
    _loaded: dict[Path, np.ndarray] = field(default_factory=dict, repr=False)  # vectors read this session

    @cached_property
    def ids(self) -> list[str]:
        return sorted(self.dataset.midi_files)

    @cached_property
    def score_paths(self) -> dict[str, str]:
        """The passage score (MusicXML) each performance plays, for its score-relative descriptors; the rest are
        free play."""
        return {i: str(p) for i, p in performance_scores(self.dataset.root, self.ids).items()}

    @cached_property
    def row(self) -> dict[str, int]:
        return {ident: i for i, ident in enumerate(self.ids)}

    def labels(self, ids: list[str] | tuple[str, ...]) -> np.ndarray:
        return np.stack([self.dataset.labels[i] for i in ids]).astype(np.float32)

    def run_identity(self) -> dict:
        """What, beyond the config and the feature settings, a run trained on these vectors must match to be reused."""
        return {}

    def vectors(self, copy: int = 0, seed: int = 0, ranges: AugmentRanges = AugmentRanges()) -> np.ndarray:
        """Feature vectors of every id (rows in ``self.ids`` order). ``copy`` > 0 is an augmented copy."""
        tag = "plain"
        if copy:
            tag = f"aug{copy}-seed{seed}-" + hashlib.sha256(repr(ranges).encode()).hexdigest()[:8]
        path = cache_dir() / f"vectors-{self.settings.sha256()[:12]}-{tag}.npy"
        if path in self._loaded:
            return self._loaded[path]
        if path.is_file():
            return self._loaded.setdefault(path, np.load(path))
        scores = self.score_paths
        jobs = [(str(self.dataset.midi_files[i]), copy, seed, ranges, scores.get(i)) for i in self.ids]
        desc = f"features{' (augmented copy %d)' % copy if copy else ''}"
        if self.workers <= 1:
            rows = [_vector_job(job) for job in tqdm(jobs, desc=desc, unit="file", disable=None)]
        else:
            # forkserver, not fork: a process forked after ONNX Runtime or torch started their thread
            # pools can hang on a lock one of those threads held
            with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
                rows = list(
                    tqdm(
                        pool.map(_vector_job, jobs, chunksize=16), total=len(jobs), desc=desc, unit="file", disable=None
                    )
                )
        matrix = np.stack(rows).astype(np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, matrix)
        tmp.replace(path)
        return self._loaded.setdefault(path, matrix)

    def vectors_for(self, ids, copy: int = 0, seed: int = 0, ranges: AugmentRanges = AugmentRanges()) -> np.ndarray:
        return self.vectors(copy, seed, ranges)[[self.row[i] for i in ids]]

    @cached_property
    def tables(self) -> dict[str, NoteTable]:
        """Every note table (reading all 1,202 files takes a few seconds)."""
        return {
            i: read_midi(self.dataset.midi_files[i])
            for i in tqdm(self.ids, desc="reading MIDI", unit="file", disable=None)
        }
