"""Cut a column of a handbook (characters stacked top to bottom, as jianzipu is printed) into characters.

The ink's row profile has gaps between characters, and smaller ones inside a character (散 above 挑七, a finger
above its stroke). Every gap is a possible cut; the cuts chosen are those whose pieces come closest to a character's
usual height, about 1.3 times the column's width (the real crops of 五声琴谱 are 0.9-1.9 widths tall), with wide
gaps preferred: a dynamic programme over the gaps. The cut is made on a copy at most 128 pixels wide (lighting
evened out, as for one character), so time and memory are bounded whatever the image; a ruling or border that
runs down the column is left out of the profile; a first or last piece with a tenth of a typical piece's ink (a
speck, a page number) is not a character.
"""

from __future__ import annotations

import numpy as np

from pianocoach.errors import PianoCoachError
from pianocoach.jianzipu.image import flatten_lighting, ink

INK_ROW = 0.02  # a row with less than this share of the column's width in ink is paper
RULING = 0.9  # an ink column inked in more than this share of the rows is a ruling or a border, not writing
TYPICAL_HEIGHT = 1.3  # a character's height in column widths
MIN_HEIGHT, MAX_HEIGHT = 0.45, 2.4  # in column widths: a piece outside these is not one character
TOO_TALL = 4.0  # cost per column width above MAX_HEIGHT: a piece that tall is allowed only when nothing else fits
MAX_GAPS = 400  # gaps considered (the widest)
MAX_PIECES = 150  # a column with more characters is refused (each is read by the model)
MAX_ASPECT = 400  # height / width beyond this is no column of characters
WORKING_WIDTH = 128


class ColumnError(PianoCoachError):
    """An image that cannot be a column of characters; the message says why."""


def gaps(profile: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every run of paper rows, inside the ink (not before the first or after the last ink row)."""
    paper = np.concatenate([[False], profile < INK_ROW, [False]])
    edges = np.flatnonzero(np.diff(paper.astype(np.int8)))
    runs = list(zip(edges[::2].tolist(), edges[1::2].tolist()))
    inked = np.flatnonzero(profile >= INK_ROW)
    if inked.size == 0:
        return []
    return [(a, b) for a, b in runs if a > inked[0] and b <= inked[-1]]


def working_copy(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """The column at most WORKING_WIDTH pixels wide (and the scale back to the original's rows)."""
    from PIL import Image

    height, width = gray.shape
    if height > MAX_ASPECT * max(width, 1):
        raise ColumnError(f"{width} x {height} pixels is no column of characters (taller than {MAX_ASPECT} widths)")
    if width <= WORKING_WIDTH:
        return gray, 1.0
    scale = WORKING_WIDTH / width
    small = Image.fromarray(np.asarray(gray, dtype=np.uint8)).resize(
        (WORKING_WIDTH, max(1, round(height * scale))), Image.Resampling.BOX
    )
    return np.asarray(small), scale


def cut_column(gray: np.ndarray) -> list[tuple[int, int]]:
    """(top, bottom) rows of each character in a column image (grayscale, 0 black .. 255 white), top to bottom;
    ColumnError for an image that cannot be one."""
    small, scale = working_copy(gray)
    amount = ink(flatten_lighting(small)) > 0.25
    writing = amount[:, amount.mean(axis=0) <= RULING]  # without rulings and borders
    cols = np.flatnonzero(writing.mean(axis=0) > INK_ROW / 2)
    if cols.size == 0:
        return []
    width = max(int(cols[-1] - cols[0] + 1), 1)
    profile = writing[:, cols[0] : cols[-1] + 1].mean(axis=1)
    inked = np.flatnonzero(profile >= INK_ROW)
    if inked.size == 0:
        return []
    top, bottom = int(inked[0]), int(inked[-1]) + 1
    found = sorted(gaps(profile), key=lambda g: g[1] - g[0], reverse=True)[:MAX_GAPS]
    found.sort()
    pieces = _best_cuts(
        [top] + [(a + b) // 2 for a, b in found] + [bottom], [0] + [b - a for a, b in found] + [0], width
    )
    inks = [float(profile[a:b].sum()) for a, b in pieces]
    typical = float(np.median(inks)) if inks else 0.0
    pieces = [
        p
        for i, p in enumerate(pieces)
        if not (len(pieces) > 1 and i in (0, len(pieces) - 1) and inks[i] < 0.1 * typical)
    ]
    if len(pieces) > MAX_PIECES:
        raise ColumnError(f"{len(pieces)} characters is more than one column holds (at most {MAX_PIECES})")
    rows = gray.shape[0]
    return [(max(int(a / scale) - 1, 0), min(int(np.ceil(b / scale)) + 1, rows)) for a, b in pieces]


def _best_cuts(points: list[int], widths: list[int], width: int) -> list[tuple[int, int]]:
    """The pieces between chosen points that come closest to character-high ones (a piece taller than MAX_HEIGHT
    only when nothing else fits, at a cost)."""
    n = len(points)
    best = np.full(n, np.inf)
    back = np.zeros(n, dtype=int)
    best[0] = 0.0
    for j in range(1, n):
        for i in range(j - 1, -1, -1):
            height = (points[j] - points[i]) / width
            if height < MIN_HEIGHT and j != n - 1 and i != 0:
                continue
            cost = best[i] + (height - TYPICAL_HEIGHT) ** 2 - 0.5 * widths[j] / width
            if height > MAX_HEIGHT:
                cost += TOO_TALL * (height - MAX_HEIGHT)
                if np.isfinite(best[j]):
                    break  # every earlier start is taller still
            if cost < best[j]:
                best[j], back[j] = cost, i
    cuts, j = [n - 1], n - 1
    while j > 0:
        j = int(back[j])
        cuts.append(j)
    cuts.reverse()
    return [(points[a], points[b]) for a, b in zip(cuts, cuts[1:])]
