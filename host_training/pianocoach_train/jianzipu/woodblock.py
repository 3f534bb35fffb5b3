"""Characters drawn as the woodblock of 五声琴谱 prints them, for the combinations its pages never show.

A reading becomes the IDC tree the page would carve (:func:`tree_of`: the left hand over the stroke, the stroke
wrapped round its string as the pages wrap it, 注 beside, 间 and a first stroke above), and each part is drawn in
a box sampled from the boxes measured on the real training crops (``layouts``): parts packed into one square
as printed, full-size string numerals, 乚 sweeping under the whole lower part, 勹 round a large numeral. The
glyphs come from the training fonts, stretched into their boxes (a wrapping stroke to its whole box).

The woodblock finish, each to a real crop's measured frame: stroke width (ink spread), chipped edges and holes
(carving wear), a neighbour's ink at the crop's edge (crop jitter), the crop's size and margins, paper and ink
greys, blur from drawing at 3-4x and scaling down to the crop's size (the scan), and the paper's grain.
Deterministic in (reading, seed).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from pianocoach.jianzipu import load_knowledge
from pianocoach.jianzipu.vocab import HUI_OUTSIDE, Reading
from pianocoach_train.jianzipu.layouts import ENCLOSING, Frame, Layouts, held, layout_key
from pianocoach_train.jianzipu.real_crops import FINGERS, MARKS, TECHNIQUES
from pianocoach_train.jianzipu.render import TRAIN_FONTS, FontSpec

log = logging.getLogger(__name__)

DRAWN_HEIGHT = 160  # pixels of the character's crop while drawing (then scaled to the real crop's size)
GLYPH_SIZE = 128
MAX_SPREAD = 3  # pixels (at DRAWN_HEIGHT) a stroke may grow on each side
MAX_DISTORTION = 1.5  # a glyph may be stretched this much more along one axis than the other to fill its box
NUMERALS = "一二三四五六七八九十"
FORM_TOKENS = {"open": "TECHNIQUE_SAN_YIN", "harmonic": "TECHNIQUE_FAN_YIN"}
# how the woodblock abbreviates the parts that the knowledge data writes in full
PRINTED = {"LEFT_ZHU": "氵", "LEFT_CHUO": "卓", "O_JIAN": "门", "LEFT_WAI": "外"}
DRAWN_MARKS = ("注", "间")  # the marks drawn (others come from the real crops only)


def _token_names() -> dict[str, str]:
    """A label token -> the glyph(s) to draw."""
    knowledge = load_knowledge()
    glyphs = {t: knowledge.find("finger", name).abbreviation for t, name in FINGERS.items()}
    glyphs.update({t: knowledge.find("technique", name).abbreviation for t, name in TECHNIQUES.items()})
    glyphs.update({"TECHNIQUE_SAN_YIN": knowledge.find("form", "散").abbreviation})
    glyphs.update({"TECHNIQUE_FAN_YIN": knowledge.find("form", "泛").abbreviation})
    glyphs.update(PRINTED)
    glyphs.update({str(i): NUMERALS[i - 1] for i in range(1, 11)})
    return glyphs


GLYPHS = _token_names()
TOKEN_OF_TECHNIQUE = {name: token for token, name in reversed(TECHNIQUES.items())}  # the plain form
TOKEN_OF_FINGER = {name: token for token, name in reversed(FINGERS.items())}  # the plain form (not ..._2)
TOKEN_OF_MARK = {name: token for token, name in reversed(MARKS.items())}


def stack(rows: list[object]) -> object:
    """Parts top to bottom as an IDC tree."""
    if len(rows) == 1:
        return rows[0]
    if len(rows) == 2:
        return ("⿱", rows[0], rows[1])
    if len(rows) == 3:
        return ("⿳", rows[0], rows[1], rows[2])
    return ("⿱", rows[0], stack(rows[1:]))


def hui_tree(reading: Reading) -> object | None:
    if reading.hui_whole == "none":
        return None
    if reading.hui_whole == HUI_OUTSIDE:
        return "LEFT_WAI"
    whole = int(reading.hui_whole)
    if whole > 10:  # 十一 .. 十三 are written 十 over the unit, as the long form
        return ("⿱", "10", str(whole - 10))
    return ("⿱", str(whole), str(reading.hui_tenth)) if reading.hui_tenth else str(whole)


def tree_of(reading: Reading, stroke_operators: dict[str, str]) -> object | None:
    """The IDC tree the woodblock would carve for ``reading``; None for what this renderer does not draw (no
    stroke, marks other than 注 and 间, a tenth after hui 11-13)."""
    if reading.technique is None or reading.string is None or set(reading.marks) - set(DRAWN_MARKS):
        return None
    if reading.hui_whole not in ("none", HUI_OUTSIDE) and int(reading.hui_whole) > 10 and reading.hui_tenth:
        return None
    hand: object | None
    if reading.form == "open":
        hand = FORM_TOKENS["open"]
    elif reading.form == "unmarked":
        hand = None
    else:
        hui = hui_tree(reading)
        finger = TOKEN_OF_FINGER[reading.finger] if reading.finger else None
        if finger is None and isinstance(hui, tuple) and hui[1] != "10":  # no finger: whole and tenth side by side
            hui = ("⿰", *hui[1:])
        pair = [p for p in (finger, hui) if p is not None]
        hand = ("⿰", *pair) if len(pair) == 2 else (pair[0] if pair else None)
        if reading.form == "harmonic" and hand is not None:
            hand = ("⿰", FORM_TOKENS["harmonic"], hand)
    stroke = TOKEN_OF_TECHNIQUE[reading.technique]
    operator = written_operator(stroke, str(reading.string), stroke_operators)
    lower: list[object] = (
        [(operator, stroke, str(reading.string))] if operator in ENCLOSING else [stroke, str(reading.string)]
    )
    prefix = TOKEN_OF_TECHNIQUE[reading.prefix] if reading.prefix else None
    around = written_operator(prefix, "O_JIAN", stroke_operators) if prefix else None
    if prefix and "间" in reading.marks and around in ENCLOSING:  # 勾 round 间, as the pages write 勾间勾
        lower.insert(0, (around, prefix, "O_JIAN"))
    else:
        lower[:0] = [part for part in (prefix, "O_JIAN" if "间" in reading.marks else None) if part]
    if "注" in reading.marks:
        lower = [("⿰", "LEFT_ZHU", stack(lower))]
    return stack(([hand] if hand is not None else []) + lower)


def written_operator(stroke: str, inner: str, stroke_operators: dict[str, str]) -> str:
    """How the pages write ``stroke`` with ``inner`` (a string, or 间): for that pair if seen, else for the stroke,
    else above it (⿱)."""
    return stroke_operators.get(f"{stroke}/{inner}", stroke_operators.get(stroke, "⿱"))


@lru_cache(maxsize=512)
def glyph_mask(text: str, font: FontSpec) -> np.ndarray:
    """The glyph(s) as ink amounts (float32, 0..1), cropped to their ink, stacked top to bottom."""
    from pianocoach_train.jianzipu.render import _font

    face = _font(font, GLYPH_SIZE)
    pieces = []
    for ch in text:
        image = Image.new("L", (GLYPH_SIZE * 2, GLYPH_SIZE * 2), 0)
        ImageDraw.Draw(image).text((GLYPH_SIZE // 2, GLYPH_SIZE // 2), ch, font=face, fill=255)
        ink = np.asarray(image, dtype=np.float32) / 255.0
        rows, cols = np.flatnonzero(ink.max(axis=1) > 0.3), np.flatnonzero(ink.max(axis=0) > 0.3)
        pieces.append(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    width = max(p.shape[1] for p in pieces)
    padded = [
        np.pad(p, ((0, 8), ((width - p.shape[1]) // 2, width - p.shape[1] - (width - p.shape[1]) // 2))) for p in pieces
    ]
    return np.concatenate(padded)[:-8]


def draw_leaf(canvas: np.ndarray, token: str, box: np.ndarray, font: FontSpec, fill: bool) -> None:
    """Paint ``token``'s glyph into ``box`` (y0, y1, x0, x1 in pixels): filling it (a wrapping stroke) or fitted
    with at most MAX_DISTORTION of stretch, centred."""
    glyph = glyph_mask(GLYPHS[token], font)
    y0, y1, x0, x1 = box
    bh, bw = max(y1 - y0, 2.0), max(x1 - x0, 2.0)
    sy, sx = bh / glyph.shape[0], bw / glyph.shape[1]
    if not fill:
        base = min(sx, sy)
        sy, sx = min(sy, base * MAX_DISTORTION), min(sx, base * MAX_DISTORTION)
    h, w = max(2, round(glyph.shape[0] * sy)), max(2, round(glyph.shape[1] * sx))
    scaled = np.asarray(Image.fromarray((glyph * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR))
    top, left = round((y0 + y1) / 2 - h / 2), round((x0 + x1) / 2 - w / 2)
    ty0, tx0 = max(top, 0), max(left, 0)
    ty1, tx1 = min(top + h, canvas.shape[0]), min(left + w, canvas.shape[1])
    if ty1 <= ty0 or tx1 <= tx0:
        return
    piece = scaled[ty0 - top : ty1 - top, tx0 - left : tx1 - left].astype(np.float32) / 255.0
    canvas[ty0:ty1, tx0:tx1] = np.maximum(canvas[ty0:ty1, tx0:tx1], piece)


def even_boxes(tree: tuple) -> np.ndarray:
    """Child boxes when nothing was measured for a layout: equal shares, or a wrap's inner lower right."""
    operator, n = tree[0], len(tree) - 1
    if operator in ENCLOSING:
        return np.array([[0, 1, 0, 1], [0.35, 0.95, 0.3, 0.9]], dtype=float)
    cuts = np.linspace(0, 1, n + 1)
    if operator == "⿰":
        return np.array([[0, 1, a, b] for a, b in zip(cuts, cuts[1:])])
    return np.array([[a, b, 0, 1] for a, b in zip(cuts, cuts[1:])])


def draw_tree(
    canvas: np.ndarray,
    tree: object,
    box: np.ndarray,
    layouts: Layouts,
    font: FontSpec,
    rng: np.random.Generator,
    fill: bool = False,
) -> None:
    if isinstance(tree, str):
        draw_leaf(canvas, tree, box, font, fill)
        return
    relative = layouts.sample(layout_key(tree), held(tree), rng)
    if relative is None:
        relative = even_boxes(tree)
    relative = np.clip(relative + rng.normal(0, 0.015, relative.shape), 0, 1)
    y0, y1, x0, x1 = box
    for i, (child, (a, b, c, d)) in enumerate(zip(tree[1:], relative)):
        child_box = np.array([y0 + a * (y1 - y0), y0 + b * (y1 - y0), x0 + c * (x1 - x0), x0 + d * (x1 - x0)])
        draw_tree(canvas, child, child_box, layouts, font, rng, fill=tree[0] in ENCLOSING and i == 0)


def stroke_width(ink: np.ndarray) -> float:
    """As ``layouts.frame_of`` measures it: twice the 90th percentile of the distance to the paper, in pixels."""
    depth = ndimage.distance_transform_edt(ink)
    return 2 * float(np.percentile(depth[ink], 90)) if ink.any() else 0.0


def spread_to(ink: np.ndarray, target: float, rng: np.random.Generator) -> np.ndarray:
    """The strokes grown or thinned to about ``target`` pixels wide, their outlines softened (ink spread)."""
    change = min(round((target - stroke_width(ink)) / 2), MAX_SPREAD)  # more merges a dense glyph's strokes
    if change > 0:
        ink = ndimage.binary_dilation(ink, iterations=change)
    elif change < 0:
        thinner = ndimage.binary_erosion(ink, iterations=-change)
        ink = thinner if thinner.sum() > 0.3 * ink.sum() else ink
    soft = ndimage.gaussian_filter(ink.astype(np.float32), rng.uniform(1.0, 2.5))
    return soft > rng.uniform(0.35, 0.6)


def smooth_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    small = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(small.resize((shape[1], shape[0]), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0


def wear(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Chipped edges where a noise field is high, and a few holes (carving wear, uneven inking)."""
    edge = ink & ~ndimage.binary_erosion(ink, iterations=2)
    chips = edge & (smooth_noise(ink.shape, 16, rng) > rng.uniform(0.6, 0.95))
    out = ink & ~chips
    points = np.argwhere(out)
    for _ in range(int(rng.integers(0, 4)) if len(points) else 0):
        y, x = points[rng.integers(len(points))]
        r = rng.uniform(1.5, 4)
        yy, xx = np.ogrid[: ink.shape[0], : ink.shape[1]]
        out &= (yy - y) ** 2 + (xx - x) ** 2 > r * r
    return out


def neighbour(canvas: np.ndarray, font: FontSpec, rng: np.random.Generator, top: bool, reach: float) -> None:
    """A piece of the next character's ink at the crop's top or bottom edge, ``reach`` pixels into it."""
    token = str(rng.choice(list(GLYPHS)))
    height, width = canvas.shape
    size = height * rng.uniform(0.3, 0.6)
    x = rng.uniform(0.1, 0.9) * width
    y = reach - size if top else height - reach
    draw_leaf(canvas, token, np.array([y, y + size, x - size / 2, x + size / 2]), font, False)


def woodblock(reading: Reading, layouts: Layouts, seed: int, font: FontSpec | None = None) -> Image.Image | None:
    """One character as a crop of a printed page (greyscale, the size of a real crop); None when the renderer
    does not draw the reading (:func:`tree_of`)."""
    tree = tree_of(reading, layouts.stroke_operators)
    if tree is None:
        return None
    rng = np.random.default_rng([seed, *(ord(ch) for ch in reading.text)])
    font = font or TRAIN_FONTS[int(rng.integers(len(TRAIN_FONTS)))]
    frame: Frame = layouts.frames[int(rng.integers(len(layouts.frames)))]
    scale = DRAWN_HEIGHT / frame.height
    height, width = DRAWN_HEIGHT, max(8, round(frame.width * scale))
    top, bottom, left, right = (max(m, 0.01) for m in frame.margins)
    box = np.array([top * height, (1 - bottom) * height, left * width, (1 - right) * width])
    drawn = np.zeros((height, width), dtype=np.float32)
    draw_tree(drawn, tree, box, layouts, font, rng)
    ink = spread_to(drawn > 0.5, frame.stroke * (box[1] - box[0]) * rng.uniform(0.85, 1.15), rng)
    ink = wear(ink, rng)
    edges = np.zeros_like(drawn)
    for at_top, margin in ((True, top), (False, bottom)):
        if rng.random() < 0.3:
            neighbour(edges, font, rng, at_top, margin * height * rng.uniform(0.3, 0.9))
    ink |= spread_to(edges > 0.5, frame.stroke * (box[1] - box[0]), rng) & (edges > 0)
    amount = ndimage.gaussian_filter(ink.astype(np.float32), rng.uniform(0.5, 1.5))
    mottle = (smooth_noise(amount.shape, 6, rng) - 0.5) * rng.uniform(0, 12)
    grey = frame.paper + mottle - (frame.paper - frame.ink) * amount
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).resize(
        (frame.width, frame.height), Image.Resampling.BOX
    )
    scanned = np.asarray(image, dtype=np.float32) + rng.normal(
        0, frame.grain * rng.uniform(0.2, 0.6), (frame.height, frame.width)
    )
    return Image.fromarray(np.clip(scanned, 0, 255).astype(np.uint8))


def random_reading(rng: np.random.Generator) -> Reading:
    """A reading the renderer draws, over the whole vocabulary of forms, fingers, hui, strokes and strings (most
    of these combinations are on no training page)."""
    from pianocoach.jianzipu.vocab import FINGERS as FINGER_CLASSES
    from pianocoach.jianzipu.vocab import STROKES

    while True:
        form = str(rng.choice(["stopped", "open", "unmarked", "harmonic"], p=[0.6, 0.25, 0.1, 0.05]))
        finger, whole, tenth = None, "none", 0
        if form in ("stopped", "harmonic"):
            finger = str(rng.choice(FINGER_CLASSES[1:])) if rng.random() > 0.05 else None
            whole = str(int(rng.integers(1, 14))) if rng.random() > 0.03 else HUI_OUTSIDE
            if whole != HUI_OUTSIDE and int(whole) <= 10 and rng.random() < 0.5:
                tenth = int(rng.integers(1, 10))
        marks = frozenset(m for m, p in (("注", 0.1), ("间", 0.05)) if rng.random() < p)
        prefix = str(rng.choice(["抹", "勾"])) if rng.random() < 0.1 else None
        technique = str(rng.choice(STROKES))
        reading = Reading(form, finger, whole, tenth, prefix, technique, int(rng.integers(1, 8)), marks)
        if reading.valid():
            return reading


def woodblock_images(
    layouts: Layouts, count: int, seed: int, progress: bool = True
) -> tuple[np.ndarray, list[Reading]]:
    """``count`` woodblock characters of random readings, prepared as the reader sees them (uint8 (n, SIZE,
    SIZE)), with their readings."""
    from tqdm import tqdm

    from pianocoach.jianzipu.image import prepare

    rng = np.random.default_rng(seed)
    images, readings = [], []
    with tqdm(total=count, desc="drawing woodblock characters", unit="image", disable=not progress) as bar:
        while len(images) < count:
            reading = random_reading(rng)
            image = woodblock(reading, layouts, int(rng.integers(2**31)))
            if image is None:
                continue
            images.append((prepare(image)[0, 0] * 255).astype(np.uint8))
            readings.append(reading)
            bar.update()
    return np.stack(images), readings
