"""The published PercePiano evaluation splits (``splits/*.json``) and their checks.

- performer: a common ``test`` list, ``fold_0..3`` to validate on, ``always_train`` never validated on.
- piece: a common ``test`` list and ``fold_0..3``; a passage never spans two parts.
- work: leave-one-work-out ``fold_0..3``; no test list (the held-out work is the evaluation set).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable

from pianocoach.errors import DatasetFileError
from pianocoach.jsonio import read_json
from pianocoach_train.percepiano.ids import IdError, PerformanceId, normalise_id, parse_id
from pianocoach_train.percepiano.problems import Problem

SPLIT_FILES = {"performer": "performer4fold.json", "piece": "piece4fold.json", "work": "work4fold.json"}
N_FOLDS = 4

# What each split keeps in one part: a performer of a work, a passage, a whole work.
GROUP_KEYS: dict[str, Callable[[PerformanceId], Hashable]] = {
    "performer": lambda p: (p.work, p.performer),
    "piece": lambda p: p.passage_key,
    "work": lambda p: p.work,
}
GROUP_NAMES = {"performer": "performer", "piece": "passage", "work": "work"}


@dataclass(frozen=True)
class Fold:
    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]  # empty for the work split


@dataclass(frozen=True)
class Split:
    name: str
    path: Path
    parts: dict[str, tuple[str, ...]]  # "test", "fold_0".."fold_3", "always_train" as in the file

    @property
    def test(self) -> tuple[str, ...]:
        return self.parts.get("test", ())

    def fold(self, k: int) -> Fold:
        """Fold k validates on ``fold_k``, tests on ``test`` and trains on every other id."""
        if not 0 <= k < N_FOLDS:
            raise ValueError(f"fold must be 0..{N_FOLDS - 1}, got {k}")
        validation = self.parts[f"fold_{k}"]
        held_out = set(validation) | set(self.test)
        train = tuple(i for part, ids in self.parts.items() for i in ids if i not in held_out)
        return Fold(train=train, validation=validation, test=self.test)

    def all_ids(self) -> set[str]:
        return {i for ids in self.parts.values() for i in ids}


def load_split(root: Path, name: str) -> Split:
    if name not in SPLIT_FILES:
        raise ValueError(f"unknown split {name!r}; choose from {', '.join(SPLIT_FILES)}")
    path = Path(root) / "splits" / SPLIT_FILES[name]
    raw = read_json(path, DatasetFileError, "JSON split file")
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise DatasetFileError(path, "expected a JSON object of part name -> list of ids")
    missing = [f"fold_{k}" for k in range(N_FOLDS) if f"fold_{k}" not in raw]
    if missing:
        raise DatasetFileError(path, f"missing {', '.join(missing)}")
    parts = {part: tuple(normalise_id(str(i)) for i in ids) for part, ids in raw.items()}
    return Split(name=name, path=path, parts=parts)


def check_split(split: Split, midi_ids: set[str], label_ids: set[str]) -> list[Problem]:
    """Every problem of one split: ids in two parts, ids without MIDI or label, groups spanning parts."""
    problems: list[Problem] = []
    where: dict[str, list[str]] = defaultdict(list)
    for part, ids in split.parts.items():
        for ident in ids:
            where[ident].append(part)
    for ident, parts in where.items():
        if len(parts) > 1:
            problems.append(Problem("id in two parts", ident, f"{split.name} split lists it in {', '.join(parts)}"))
        if ident not in midi_ids:
            problems.append(Problem("split id without MIDI", ident, f"in {split.name}/{parts[0]}"))
        if ident not in label_ids:
            problems.append(Problem("split id without label", ident, f"in {split.name}/{parts[0]}"))

    for ident in sorted((midi_ids & label_ids) - where.keys()):
        problems.append(Problem("id in no part", ident, f"labelled MIDI file missing from the {split.name} split"))

    group_parts: dict[Hashable, set[str]] = defaultdict(set)
    for ident, parts in where.items():
        try:
            group_parts[GROUP_KEYS[split.name](parse_id(ident))].update(parts)
        except IdError as exc:
            problems.append(Problem("bad id", ident, str(exc)))
    group = GROUP_NAMES[split.name]
    for key, parts in group_parts.items():
        if len(parts) > 1:
            label = " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)
            problems.append(
                Problem(f"{group} spans parts", label, f"{split.name} split puts it in {', '.join(sorted(parts))}")
            )
    return problems
