"""The rendered blocks of every performance in memory, per soundfont, with each performance's rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from pianocoach.features.audio import INPUT_NAMES
from pianocoach_train.audio.renders import load_render

if TYPE_CHECKING:
    from pianocoach_train.audio.heard_note_end import CrossFitNoteEnds, NoteEndSource
    from pianocoach_train.audio.heard_pedal import PedalSource
    from pianocoach_train.audio.heard_velocity import VelocitySource

log = logging.getLogger(__name__)


@dataclass
class RenderedSet:
    """All blocks of one soundfont's renders: arrays stacked over performances, ``rows[id]`` = (start, stop)."""

    soundfont: str
    ids: list[str]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    transcriptions: dict[str, np.ndarray] = field(default_factory=dict)
    progress: bool = True

    @classmethod
    def load(cls, soundfont: str, ids: list[str], progress: bool = True) -> "RenderedSet":
        parts: dict[str, list[np.ndarray]] = {k: [] for k in (*INPUT_NAMES, "activity")}
        out = cls(soundfont, list(ids), progress=progress)
        start = 0
        for ident in tqdm(ids, desc=f"loading {soundfont}", unit="file", disable=not progress):
            data = load_render(soundfont, ident)
            for key in parts:
                parts[key].append(data[key])
            if "transcription" in data:
                out.transcriptions[ident] = data["transcription"]
            n = len(data["activity"])
            out.rows[ident] = (start, start + n)
            start += n
        out.arrays = {k: np.concatenate(v) for k, v in parts.items()}
        return out

    def block_rows(self, ids) -> np.ndarray:
        return np.concatenate([np.arange(*self.rows[i]) for i in ids])

    def tensors(self, rows: np.ndarray, names: tuple[str, ...]) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(self.arrays[n][rows].astype(np.float32)) for n in names)

    @cached_property
    def block_owner(self) -> np.ndarray:
        owner = np.empty(len(self.arrays["activity"]), dtype=object)
        for ident, (a, b) in self.rows.items():
            owner[a:b] = ident
        return owner

    def transcription_matrix(
        self,
        ids,
        pedal: "PedalSource | None" = None,
        velocity: "VelocitySource | None" = None,
        note_end: "NoteEndSource | CrossFitNoteEnds | None" = None,
    ) -> np.ndarray:
        """Descriptor vectors of the transcriptions (a transcription without notes: zeros); with ``pedal``, of the
        transcriptions with the sustain pedal that pedal model hears in them (as the device scores a take); with
        ``velocity``, with the key velocities that velocity model hears instead of basic-pitch's amplitudes; with
        ``note_end``, with the ends that note-end model hears instead of basic-pitch's."""
        missing = [i for i in ids if i not in self.transcriptions]
        if missing:
            raise KeyError(f"{self.soundfont}: {len(missing)} performances were not transcribed (e.g. {missing[0]})")
        if pedal is None and velocity is None and note_end is None:
            vectors = self.transcriptions
        else:
            from pianocoach_train.audio.heard_pedal import heard_vectors

            vectors = heard_vectors(self.soundfont, list(ids), pedal, velocity, note_end, progress=self.progress)
        return np.nan_to_num(np.stack([vectors[i] for i in ids]).astype(np.float32))


def aggregate(block_scores: np.ndarray, rendered: RenderedSet, ids) -> tuple[np.ndarray, np.ndarray]:
    """Per-performance (mean, activity-weighted mean) of block scores given in ``block_rows(ids)`` order."""
    means, weighted, at = [], [], 0
    for ident in ids:
        a, b = rendered.rows[ident]
        scores = block_scores[at : at + b - a]
        at += b - a
        weights = rendered.arrays["activity"][a:b].astype(np.float64)
        means.append(scores.mean(axis=0))
        weighted.append(np.average(scores, axis=0, weights=weights) if weights.sum() > 0 else scores.mean(axis=0))
    return np.stack(means), np.stack(weighted)
