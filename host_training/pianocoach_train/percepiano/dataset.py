"""The PercePiano folder as one object: MIDI files by id, labels, splits."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from pianocoach.errors import DatasetFileError
from pianocoach_train.paths import PERCEPIANO_ENV
from pianocoach_train.percepiano.ids import PerformanceId, normalise_id, parse_id
from pianocoach_train.percepiano.labels import LabelSet, load_labels, read_labels
from pianocoach_train.percepiano.problems import Problem
from pianocoach_train.percepiano.splits import Split, load_split

log = logging.getLogger(__name__)

LABEL_FILE = Path("labels") / "mean19.json"


@dataclass
class PercePiano:
    root: Path
    midi_files: dict[str, Path]  # normalised id -> MIDI file
    normalised: list[tuple[str, str]] = field(default_factory=list)  # (file name, id) where they differ
    index_problems: list[Problem] = field(default_factory=list)

    @classmethod
    def open(cls, root: str | Path) -> "PercePiano":
        root = Path(root)
        midi_dir = root / "midi"
        if not midi_dir.is_dir() or not (root / LABEL_FILE).is_file():
            raise DatasetFileError(
                root,
                f"no PercePiano data here (expected midi/ and {LABEL_FILE}); pass --data or set ${PERCEPIANO_ENV}",
            )
        files: dict[str, Path] = {}
        normalised: list[tuple[str, str]] = []
        problems: list[Problem] = []
        for path in sorted(midi_dir.glob("*.mid")):
            ident = normalise_id(path.name)
            if ident in files:
                problems.append(Problem("duplicate MIDI id", ident, f"{files[ident].name!r} and {path.name!r}"))
                continue
            if ident + ".mid" != path.name:
                normalised.append((path.name, ident))
            files[ident] = path
        return cls(root=root, midi_files=files, normalised=normalised, index_problems=problems)

    @property
    def label_path(self) -> Path:
        return self.root / LABEL_FILE

    @cached_property
    def labels(self) -> dict[str, np.ndarray]:
        """Validated labels (raises on any malformed or out-of-range row)."""
        return load_labels(self.label_path)

    def read_label_set(self) -> LabelSet:
        """Labels with problems collected instead of raised (for the data check)."""
        return read_labels(self.label_path)

    def split(self, name: str) -> Split:
        return load_split(self.root, name)

    def performances(self) -> list[PerformanceId]:
        return [parse_id(i) for i in sorted(self.midi_files)]

    def midi_path(self, ident: str) -> Path:
        return self.midi_files[normalise_id(ident)]
