"""PercePiano labels: ``labels/mean19.json`` maps id -> 19 scale means then a pianist index.

The scale means are means of 1..7 ratings divided by 7, so they lie in [1/7, 1]. The 20th value is a
pianist index, not a label, and is dropped here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pianocoach.errors import LabelFileError
from pianocoach.jsonio import read_json
from pianocoach.rating_scales import SCALE_NAMES
from pianocoach_train.percepiano.ids import normalise_id
from pianocoach_train.percepiano.problems import Problem

SCALES = SCALE_NAMES  # the 19 scales in label order; defined once, in the device code
N_SCALES = len(SCALES)
ROW_LENGTH = N_SCALES + 1  # 19 scale means + the pianist index
LABEL_RANGE = (1.0 / 7.0, 1.0)
_TOLERANCE = 1e-9


@dataclass
class LabelSet:
    path: Path
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # id -> float32[19]
    problems: list[Problem] = field(default_factory=list)

    def matrix(self, ids: list[str]) -> np.ndarray:
        return np.stack([self.labels[i] for i in ids])


def read_labels(path: str | Path) -> LabelSet:
    """Read every well-formed row; malformed rows and out-of-range values become problems."""
    path = Path(path)
    raw = read_json(path, LabelFileError, "JSON label file")
    if not isinstance(raw, dict):
        raise LabelFileError(path, f"expected a JSON object of id -> values, found {type(raw).__name__}")

    result = LabelSet(path=path)
    for key, row in raw.items():
        ident = normalise_id(key)
        problem = _row_problem(row)
        if problem:
            result.problems.append(Problem("malformed label row", ident, problem))
            continue
        values = np.array(row[:N_SCALES], dtype=np.float64)
        low, high = LABEL_RANGE
        outside = [i for i, v in enumerate(values) if not low - _TOLERANCE <= v <= high + _TOLERANCE]
        if outside:
            detail = ", ".join(f"scale {i} = {values[i]:.3f}" for i in outside)
            result.problems.append(Problem("label out of range", ident, f"{detail} (expected {low:.3f}..{high:.3f})"))
        result.labels[ident] = values.astype(np.float32)
    return result


def load_labels(path: str | Path) -> dict[str, np.ndarray]:
    """Labels for training: raise :class:`LabelFileError` on the first problem instead of collecting."""
    label_set = read_labels(path)
    if label_set.problems:
        first = label_set.problems[0]
        more = f" (and {len(label_set.problems) - 1} more problems)" if len(label_set.problems) > 1 else ""
        raise LabelFileError(path, f"{first.kind} for {first.subject!r}: {first.detail}{more}")
    return label_set.labels


def _row_problem(row: object) -> str | None:
    if not isinstance(row, list):
        return f"expected a list of {ROW_LENGTH} numbers, found {type(row).__name__}"
    if len(row) != ROW_LENGTH:
        return f"has {len(row)} values, expected {ROW_LENGTH} (19 scales + pianist index)"
    bad = [
        i for i, v in enumerate(row) if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
    ]
    if bad:
        return f"value {bad[0]} is {row[bad[0]]!r}, not a finite number"
    return None
