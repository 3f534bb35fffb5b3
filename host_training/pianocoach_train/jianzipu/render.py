"""Character images composed from component glyphs in Kai-style CJK fonts, following jianzipu layout:
the left hand on top (the finger, then the hui numerals in a column at its right; 艹 for an open string;
a small 乏 before the finger for a harmonic), the right hand below (the technique's abbreviation, with
the string number inside it for enclosing forms such as 勹 尸 乚, under it otherwise).

Augmentation, all drawn from one seeded generator: per-component jitter, affine jitter, stroke width,
blur, noise, ink darkness and a paper texture. The same (character, font, seed) gives the same image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pianocoach.errors import PianoCoachError
from pianocoach.jianzipu import Character, load_knowledge
from pianocoach.jianzipu.parser import STRING_NAMES, hui_text

CANVAS = 128


class FontMissingError(PianoCoachError):
    """A font file the renderer needs is not installed."""


@dataclass(frozen=True)
class FontSpec:
    name: str
    path: str
    index: int = 0  # face inside a .ttc collection


FONT_DIR = Path("/usr/share/fonts/truetype")
TRAIN_FONTS = (
    FontSpec("LXGW WenKai Light", str(FONT_DIR / "lxgw-wenkai/LXGWWenKai-Light.ttf")),
    FontSpec("LXGW WenKai Regular", str(FONT_DIR / "lxgw-wenkai/LXGWWenKai-Regular.ttf")),
    FontSpec("LXGW WenKai Bold", str(FONT_DIR / "lxgw-wenkai/LXGWWenKai-Bold.ttf")),
    FontSpec("LXGW WenKai Mono", str(FONT_DIR / "lxgw-wenkai/LXGWWenKaiMono-Regular.ttf")),
    FontSpec("AR PL UMing", str(FONT_DIR / "arphic/uming.ttc")),
)
# never used in training: a Kai design of its own, for the held-out-font test
HELD_OUT_FONT = FontSpec("AR PL UKai", str(FONT_DIR / "arphic/ukai.ttc"))


@lru_cache(maxsize=256)
def _font(spec: FontSpec, size: int) -> ImageFont.FreeTypeFont:
    if not Path(spec.path).is_file():
        raise FontMissingError(
            f"{spec.path}: font not installed (sudo apt-get install --no-install-recommends "
            "fonts-lxgw-wenkai fonts-arphic-ukai fonts-arphic-uming)"
        )
    return ImageFont.truetype(spec.path, size, index=spec.index)


def _abbreviations() -> dict[tuple[str, str], str]:
    return {(c.kind, c.name): c.abbreviation for c in load_knowledge().components}


def _glyph(
    draw: ImageDraw.ImageDraw,
    text: str,
    box: tuple[float, float, float, float],
    spec: FontSpec,
    rng: np.random.Generator,
    jitter: float,
) -> None:
    """Draw ``text`` (one or more glyphs, stacked vertically) fitted into ``box`` with a little jitter."""
    x0, y0, x1, y1 = box
    n = len(text)
    cell = (y1 - y0) / n
    for i, ch in enumerate(text):
        size = max(6, int(min(x1 - x0, cell) * rng.uniform(1 - jitter, 1 + jitter / 2)))
        font = _font(spec, size)
        left, top, right, bottom = draw.textbbox((0, 0), ch, font=font)
        cx = (x0 + x1) / 2 + rng.normal(0, jitter * 6)
        cy = y0 + cell * (i + 0.5) + rng.normal(0, jitter * 6)
        draw.text((cx - (left + right) / 2, cy - (top + bottom) / 2), ch, font=font, fill=0)


def compose(character: Character, spec: FontSpec, rng: np.random.Generator, jitter: float = 0.08) -> Image.Image:
    """The character drawn black on white on a CANVAS x CANVAS image, before image augmentation."""
    abbr = _abbreviations()
    image = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(image)
    top, split = 6, CANVAS * rng.uniform(0.42, 0.5)
    if character.form == "open":
        _glyph(draw, abbr[("form", "散")], (24, top, CANVAS - 24, split), spec, rng, jitter)
    else:
        x = 6
        if character.form == "harmonic":
            _glyph(draw, abbr[("form", "泛")], (x, top + 8, x + 28, split - 8), spec, rng, jitter)
            x += 30
        hui = character.hui_text or hui_text(character.hui)
        finger_right = x + (CANVAS - x) * 0.55
        _glyph(draw, abbr[("finger", character.finger)], (x, top, finger_right, split), spec, rng, jitter)
        _glyph(draw, hui, (finger_right + 2, top, CANVAS - 6, split), spec, rng, jitter)
    technique = load_knowledge().find("technique", character.technique)
    string = STRING_NAMES[character.string]
    bottom = CANVAS - 4
    if technique.get("layout") == "enclosing":
        _glyph(draw, technique.abbreviation, (14, split + 2, CANVAS - 14, bottom), spec, rng, jitter)
        inner = (CANVAS * 0.42, split + (bottom - split) * 0.38, CANVAS * 0.82, bottom - 6)
        _glyph(draw, string, inner, spec, rng, jitter)
    else:
        middle = split + (bottom - split) * rng.uniform(0.55, 0.62)
        _glyph(draw, technique.abbreviation, (28, split + 2, CANVAS - 28, middle), spec, rng, jitter)
        _glyph(draw, string, (40, middle + 1, CANVAS - 40, bottom), spec, rng, jitter)
    return image


def augment(image: Image.Image, rng: np.random.Generator, strength: float = 1.0) -> Image.Image:
    """Affine jitter, stroke width, blur, ink darkness, paper texture and noise."""
    s = strength
    angle = rng.normal(0, 4 * s)
    scale = 1 + rng.normal(0, 0.06 * s)
    shear = rng.normal(0, 0.08 * s)
    dx, dy = rng.normal(0, 4 * s, size=2)
    c = CANVAS / 2
    cos, sin = np.cos(np.radians(angle)) / scale, np.sin(np.radians(angle)) / scale
    # inverse map output -> input (PIL's AFFINE convention), about the centre
    a, b, d, e = cos, sin + shear, -sin, cos
    matrix = (a, b, c - a * c - b * c - dx, d, e, c - d * c - e * c - dy)
    image = image.transform(
        image.size, Image.Transform.AFFINE, matrix, resample=Image.Resampling.BILINEAR, fillcolor=255
    )
    stroke = rng.choice(["thin", "normal", "normal", "thick"]) if s > 0 else "normal"
    if stroke == "thick":
        image = image.filter(ImageFilter.MinFilter(3))  # dark strokes grow
    elif stroke == "thin":
        image = image.filter(ImageFilter.MaxFilter(3))
    image = image.filter(ImageFilter.GaussianBlur(abs(rng.normal(0, 0.7 * s))))
    ink = np.asarray(image, dtype=np.float32) / 255.0  # 1 = paper
    paper = rng.uniform(0.85, 1.0) if s > 0 else 1.0
    texture = (
        np.asarray(
            Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).resize(
                (CANVAS, CANVAS), Image.Resampling.BICUBIC
            ),
            dtype=np.float32,
        )
        / 255.0
    )
    background = paper - 0.12 * s * texture
    darkness = rng.uniform(0.0, 0.25 * s)
    out = background * ink + darkness * (1 - ink)
    out += rng.normal(0, rng.uniform(0, 0.06 * s), size=out.shape)
    return Image.fromarray((np.clip(out, 0, 1) * 255).astype(np.uint8))


def render(character: Character, spec: FontSpec, seed: int, strength: float = 1.0) -> Image.Image:
    """One augmented image of ``character`` in ``spec``; deterministic in (character, font, seed)."""
    rng = np.random.default_rng([seed, *(ord(ch) for ch in character.text), *(ord(ch) for ch in spec.name)])
    return augment(compose(character, spec, rng, jitter=0.08 * strength), rng, strength)
