"""Where the woodblock puts each part: layouts learned from the real crops of the training pages.

A real crop's label is an IDC tree (``real_crops.parse_tree``): ``⿱ ⿳`` stack their parts top to bottom, ``⿰``
side by side, ``⿹ ⿺ ⿸`` wrap a stroke (勹 乚 尸 ...) round an inner part (the string). Each part's box is found
in the crop's own ink: a stack splits at its emptiest rows (columns for ``⿰``) within bands, and a wrap is its
connected stroke of largest extent, the other strokes inside it being the inner part. Each measurement is kept as the
children's ink boxes relative to the parent's (top, bottom, left, right in 0..1), under a key that names the
layout (``⿱HS``: a hand over a stroke; ``⿹RIGHT_GOU``: 勾 round its string), with the leaves it held (so that
一 is drawn in a box that held 一). A character whose ink does not split as its label says is skipped.

Each crop also gives its frame: the crop's size, the character's margins in it, the paper and ink greys, the
paper's grain and the stroke width: what the woodblock finish (``woodblock``) draws to.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from pianocoach_train.jianzipu.real_crops import Crop, leaves, parse_tree

log = logging.getLogger(__name__)

ENCLOSING = ("⿹", "⿺", "⿸")
STACKING = {"⿱": ((0.2, 0.8),), "⿳": ((0.15, 0.5), (0.5, 0.85))}  # bands (of the part's height) for each cut
SIDE_BY_SIDE = {"⿰": ((0.2, 0.8),)}
MIN_SAMPLES = 5  # a layout key with fewer measurements borrows from its operator's pool
Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (end exclusive), in pixels


@dataclass(frozen=True)
class Frame:
    """One real crop as a page prints it."""

    height: int
    width: int
    margins: tuple[float, float, float, float]  # top, bottom, left, right, as fractions of the crop's size
    paper: float  # grey of the paper (0-255)
    ink: float  # grey of the ink
    grain: float  # standard deviation of the paper's grey away from the ink
    stroke: float  # stroke width, as a fraction of the character's height


@dataclass
class Layouts:
    """Measured part boxes per layout key, with the leaves they held, and the frames of the crops."""

    boxes: dict[str, list[tuple[tuple[str, ...], np.ndarray]]] = field(default_factory=lambda: defaultdict(list))
    frames: list[Frame] = field(default_factory=list)
    stroke_operators: dict[str, str] = field(default_factory=dict)  # RIGHT_GOU -> ⿹; a stacked stroke -> ⿱

    def sample(self, key: str, held: tuple[str, ...], rng: np.random.Generator) -> np.ndarray | None:
        """Child boxes (n, 4) for a part of layout ``key`` holding ``held``: a measurement of the same leaves when
        there are enough, else any of the key, else any of its operator with as many children; None if none."""
        found = self.boxes.get(key, [])
        same = [b for leaves_, b in found if leaves_ == held]
        pool = same if len(same) >= MIN_SAMPLES else [b for _, b in found]
        if len(pool) < MIN_SAMPLES:
            operator, arity = key[0], len(held)
            pool = [b for k, rows in self.boxes.items() if k[0] == operator for _, b in rows if len(b) == arity]
        if not pool:
            return None
        return pool[int(rng.integers(len(pool)))]

    def summary(self) -> dict:
        """Per key: how many measurements and the median child boxes (for the report)."""
        return {
            key: {"n": len(rows), "median_boxes": np.median(np.stack([b for _, b in rows]), axis=0).round(3).tolist()}
            for key, rows in sorted(self.boxes.items(), key=lambda kv: -len(kv[1]))
            if len({len(b) for _, b in rows}) == 1
        }


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Ink pixels: darker than halfway between the paper's and the ink's grey (all False on a blank crop)."""
    g = gray.astype(np.float32)
    low, high = np.percentile(g, 3), np.percentile(g, 97)
    return g < (low + high) / 2 if high - low > 20 else np.zeros(g.shape, dtype=bool)


def without_neighbours(mask: np.ndarray) -> np.ndarray:
    """The mask less small pieces touching the crop's top or bottom edge (the neighbouring characters' ink)."""
    labelled, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = ndimage.sum(mask, labelled, range(1, count + 1))
    edge = set(labelled[0][labelled[0] > 0]) | set(labelled[-1][labelled[-1] > 0])
    keep = mask.copy()
    for label in edge:
        if sizes[label - 1] < 0.15 * mask.sum():
            keep[labelled == label] = False
    return keep


def ink_box(mask: np.ndarray) -> Box | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def emptiest(profile: np.ndarray, band: tuple[float, float]) -> int:
    """The index of the emptiest entry in ``band`` (fractions of the length); ties: nearest the band's middle."""
    n = len(profile)
    low, high = int(n * band[0]), max(int(n * band[1]), int(n * band[0]) + 1)
    part = profile[low:high]
    order = np.lexsort((np.abs(np.arange(len(part)) - (high - low) / 2), part))
    return low + int(order[0])


def role(tree: object) -> str:
    """A part's role in its parent's key: S a stroke, H the left hand (a finger or a form), N numbers only, M a
    mark, X anything else."""
    found = leaves(tree)
    if any(t.startswith("RIGHT_") for t in found):
        return "S"
    if any(t.startswith(("LEFT_FINGER_", "TECHNIQUE_")) for t in found):
        return "H"
    if all(t.isdigit() for t in found):
        return "N"
    if any(t.startswith(("LEFT_", "O_")) for t in found):
        return "M"
    return "X"


def layout_key(tree: tuple) -> str:
    operator, children = tree[0], tree[1:]
    if operator in ENCLOSING and not isinstance(children[0], tuple):
        return operator + children[0]
    return operator + "".join(role(c) for c in children)


def held(tree: tuple) -> tuple[str, ...]:
    """The leaves a part's children are, where they are leaves ('*' for a subtree)."""
    return tuple(c if isinstance(c, str) else "*" for c in tree[1:])


def _split(mask: np.ndarray, box: Box, bands: tuple[tuple[float, float], ...], axis: int) -> list[Box] | None:
    y0, y1, x0, x1 = box
    part = mask[y0:y1, x0:x1]
    profile = part.mean(axis=1 - axis)
    cuts = [0] + [emptiest(profile, band) for band in bands] + [part.shape[axis]]
    children = []
    for a, b in zip(cuts, cuts[1:]):
        if b <= a:
            return None
        piece = part[a:b] if axis == 0 else part[:, a:b]
        inner = ink_box(piece)
        if inner is None:
            return None
        iy0, iy1, ix0, ix1 = inner
        children.append(
            (y0 + a + iy0, y0 + a + iy1, x0 + ix0, x0 + ix1)
            if axis == 0
            else (y0 + iy0, y0 + iy1, x0 + a + ix0, x0 + a + ix1)
        )
    return children


def _unwrap(mask: np.ndarray, box: Box) -> list[Box] | None:
    """A wrapping stroke (the connected piece with the largest extent) and what lies inside it."""
    y0, y1, x0, x1 = box
    labelled, count = ndimage.label(mask[y0:y1, x0:x1])
    if count < 2:
        return None
    spans = [(s[0].stop - s[0].start) * (s[1].stop - s[1].start) for s in ndimage.find_objects(labelled)]
    outer = int(np.argmax(spans)) + 1  # the wrap spans the part (its ink may be less than a numeral's)
    inner = (labelled > 0) & (labelled != outer)
    found = ink_box(inner)
    if found is None:
        return None
    iy0, iy1, ix0, ix1 = found
    return [box, (y0 + iy0, y0 + iy1, x0 + ix0, x0 + ix1)]


def _relative(children: list[Box], box: Box) -> np.ndarray:
    y0, y1, x0, x1 = box
    h, w = max(y1 - y0, 1), max(x1 - x0, 1)
    return np.array([[(a - y0) / h, (b - y0) / h, (c - x0) / w, (d - x0) / w] for a, b, c, d in children])


def measure_tree(tree: object, mask: np.ndarray, box: Box, layouts: Layouts) -> None:
    """Record the child boxes of every part of ``tree`` whose ink splits as the tree says."""
    if not isinstance(tree, tuple):
        return
    operator, children = tree[0], tree[1:]
    if operator in STACKING and len(children) == len(STACKING[operator]) + 1:
        boxes = _split(mask, box, STACKING[operator], axis=0)
    elif operator in SIDE_BY_SIDE and len(children) == 2:
        boxes = _split(mask, box, SIDE_BY_SIDE[operator], axis=1)
    elif operator in ENCLOSING and len(children) == 2:
        boxes = _unwrap(mask, box)
    else:
        return
    if boxes is None:
        return
    layouts.boxes[layout_key(tree)].append((held(tree), _relative(boxes, box)))
    for child, child_box in zip(children, boxes):
        measure_tree(child, mask, child_box, layouts)


def frame_of(gray: np.ndarray, mask: np.ndarray, box: Box) -> Frame:
    y0, y1, x0, x1 = box
    h, w = gray.shape
    far = ~ndimage.binary_dilation(mask, iterations=2)
    depth = ndimage.distance_transform_edt(mask)
    stroke = 2 * float(np.percentile(depth[mask], 90)) / max(y1 - y0, 1)
    return Frame(
        height=h,
        width=w,
        margins=(y0 / h, (h - y1) / h, x0 / w, (w - x1) / w),
        paper=float(np.percentile(gray, 97)),
        ink=float(np.percentile(gray, 3)),
        grain=float(gray[far].std()) if far.any() else 0.0,
        stroke=stroke,
    )


def learn(crops: list[Crop]) -> Layouts:
    """Layouts and frames from ``crops`` (the training pages' labelled crops: never the held-out pages)."""
    from pianocoach.jianzipu.image import load_image

    layouts = Layouts()
    operators: dict[str, Counter] = defaultdict(Counter)
    for crop in crops:
        if crop.reading is None:
            continue
        gray = np.asarray(load_image(crop.path))
        mask = without_neighbours(ink_mask(gray))
        box = ink_box(mask)
        if box is None:
            continue
        tree = parse_tree(list(crop.tokens))
        layouts.frames.append(frame_of(gray, mask, box))
        measure_tree(tree, mask, box, layouts)
        _count_stroke_operators(tree, operators)
    layouts.stroke_operators = {name: c.most_common(1)[0][0] for name, c in operators.items()}
    measured = sum(len(v) for v in layouts.boxes.values())
    log.info("layouts: %d part measurements under %d keys from %d crops", measured, len(layouts.boxes), len(crops))
    return layouts


def _count_stroke_operators(tree: object, operators: dict[str, Counter]) -> None:
    """How each stroke is written: the operator wrapping it round its string (or round 间), or ⿱ (written above
    it); counted per stroke and per stroke and string (尸 of 擘 wraps most strings but is written above 一)."""
    if not isinstance(tree, tuple):
        return
    operator, children = tree[0], tree[1:]
    for i, child in enumerate(children):
        if isinstance(child, str) and child.startswith("RIGHT_"):
            wraps = operator in ENCLOSING and i == 0
            following = children[i + 1] if i + 1 < len(children) else None
            operators[child][operator if wraps else "⿱"] += 1
            if isinstance(following, str):
                operators[f"{child}/{following}"][operator if wraps else "⿱"] += 1
        _count_stroke_operators(child, operators)
