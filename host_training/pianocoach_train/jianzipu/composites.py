"""Characters the real pages never show, drawn in the woodblock's own hand: the left hand's part of one real crop
set over the right hand's part of another.

A printed character written ⿱ (the left hand above, the stroke and string below) splits at the emptiest row of
its middle band: the split is learned from each crop's own ink, not assumed. A composite takes the top of crop A
(its form, finger and hui) and the bottom of crop B (its prefix, stroke, string and marks), both from the training
pages, scaled to one width with B's bottom under A's top, and is labelled with those parts; the pair is kept only
when the parser accepts the reading and it is not one the training pages already hold (the point is the
combinations they lack). Deterministic by seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from pianocoach.jianzipu.image import load_image, prepare
from pianocoach.jianzipu.vocab import Reading
from pianocoach_train.jianzipu.layouts import emptiest
from pianocoach_train.jianzipu.real_crops import Crop, leaves, parse_tree

log = logging.getLogger(__name__)

BAND = (0.3, 0.7)  # the split is looked for in this band of the crop's height


@dataclass(frozen=True)
class Halves:
    crop: Crop
    split: int  # the row between the left hand's part and the stroke's
    gray: np.ndarray  # uint8, the crop


def left_is_top(crop: Crop) -> bool:
    """A ⿱ character whose top is the left hand's part only (a form, a finger, a hui), its marks all below."""
    if crop.reading is None:
        return False
    tree = parse_tree(list(crop.tokens))  # a crop with a reading has a well-formed label
    if not (isinstance(tree, tuple) and tree[0] == "⿱"):
        return False
    top = leaves(tree[1])
    return all(t.startswith(("LEFT_FINGER_", "TECHNIQUE_")) or t.isdigit() for t in top)


def split_row(gray: np.ndarray) -> int:
    """The emptiest row in the middle band (ties: the one nearest the middle)."""
    return emptiest((1.0 - gray.astype(np.float32) / 255.0).mean(axis=1), BAND)


def halves(crops: list[Crop]) -> list[Halves]:
    found = []
    for crop in crops:
        if left_is_top(crop):
            gray = np.asarray(load_image(crop.path))
            found.append(Halves(crop, split_row(gray), gray))
    return found


def composite_reading(top: Reading, bottom: Reading) -> Reading | None:
    """A's left hand with B's right hand and marks, when the parser accepts it."""
    made = replace(bottom, form=top.form, finger=top.finger, hui_whole=top.hui_whole, hui_tenth=top.hui_tenth)
    return made if made.valid() else None


def stack(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top`` over ``bottom``, scaled to the wider's width (grey paper where narrower)."""
    from PIL import Image

    width = max(top.shape[1], bottom.shape[1])

    def fit(part: np.ndarray) -> np.ndarray:
        scale = width / part.shape[1]
        resized = Image.fromarray(part).resize((width, max(1, round(part.shape[0] * scale))), Image.Resampling.BILINEAR)
        return np.asarray(resized)

    return np.concatenate([fit(top), fit(bottom)], axis=0)


def composites(crops: list[Crop], count: int, seed: int = 0) -> tuple[np.ndarray, list[Reading]]:
    """``count`` composite characters prepared as the reader sees them (uint8 (n, SIZE, SIZE)), with their readings.
    ``crops``: the training pages' crops only."""
    pool = halves(crops)
    seen = {c.reading for c in crops if c.reading is not None}
    rng = np.random.default_rng(seed)
    images, readings = [], []
    tries = 0
    while len(readings) < count and tries < count * 50 and len(pool) > 1:
        tries += 1
        a, b = rng.integers(0, len(pool), 2)
        if a == b:
            continue
        top, bottom = pool[a], pool[b]
        assert top.crop.reading is not None and bottom.crop.reading is not None  # left_is_top keeps read crops
        reading = composite_reading(top.crop.reading, bottom.crop.reading)
        if reading is None or reading in seen:
            continue
        from PIL import Image

        made = stack(top.gray[: top.split], bottom.gray[bottom.split :])
        images.append((prepare(Image.fromarray(made))[0, 0] * 255).astype(np.uint8))
        readings.append(reading)
    log.info("%d composites from %d split crops (%d tries)", len(readings), len(pool), tries)
    return np.stack(images) if images else np.zeros((0, 1, 1), dtype=np.uint8), readings
