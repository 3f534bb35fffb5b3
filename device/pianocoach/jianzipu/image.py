"""Turn a photo or scan of one character into the reader's input: ink as 1 on a 0 background (uneven lighting
of a photograph flattened first), cropped to the ink, padded square and resized to 64 x 64. Real printed crops
are 25-45 pixels across (五声琴谱 as scanned), so 64 keeps all they hold; 96 cost the reader 2.25 times the
arithmetic for nothing on them. Training renders and real crops go through this too."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pianocoach.errors import InputFileError, PianoCoachError

SIZE = 64
MARGIN = 0.08  # of the square's side, kept around the ink
MAX_PIXELS = 40_000_000  # a larger image is refused before it is decoded (a 12 MP phone photo is well within)
WORKING_SIDE = 512  # a larger image is scaled down to this first: the reader sees 64 x 64 anyway


# the formats a scan or a photograph comes in; Pillow's others (EPS through Ghostscript, ...) are never opened
FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF", "PPM")


class NoInk(PianoCoachError):
    """An image with nothing written on it (blank, uniformly dark, or transparent)."""


def load_image(path: str | Path):
    """The image as greyscale (8-bit): transparency laid on white paper, a photograph's EXIF rotation applied."""
    import struct

    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        with Image.open(path, formats=FORMATS) as image:  # lazy: the size is known before the pixels are decoded
            if image.width * image.height > MAX_PIXELS:
                raise InputFileError(
                    path, f"{image.width} x {image.height} pixels is too large (at most {MAX_PIXELS // 10**6} MP)"
                )
            upright = ImageOps.exif_transpose(image)
            if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
                rgba = upright.convert("RGBA")
                paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                upright = Image.alpha_composite(paper, rgba)
            return upright.convert("L")
    except InputFileError:
        raise
    # Pillow reports a damaged file as any of these (a broken PNG chunk is a SyntaxError, a bad PPM header a
    # ValueError, a cut-off file an EOFError or struct.error)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise InputFileError(
            path, f"not a readable image ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
        ) from None
    except Image.DecompressionBombError as exc:
        raise InputFileError(path, f"not a readable image ({exc})") from None


def ink(gray: np.ndarray) -> np.ndarray:
    """0 for paper, 1 for the darkest ink, from a grayscale array (0 black .. 255 white)."""
    gray = gray.astype(np.float32)
    paper = np.percentile(gray, 90)
    darkest = np.percentile(gray, 0.5)
    span = max(paper - darkest, 1.0)
    return np.clip((paper - gray) / span, 0.0, 1.0)


def flatten_lighting(gray: np.ndarray) -> np.ndarray:
    """A photograph's noise smoothed and its paper made evenly bright: each pixel divided by the paper's
    brightness around it, estimated by a grey closing (the brightest nearby, then the darkest of those: strokes
    thinner than the window vanish, a lamp's gradient stays) on a quarter-size copy, the window 15% of its shorter
    side (tuned on real crops of 五声琴谱 photographed in software: eight times larger, lit from one side, low
    contrast, noisy). Small crops are returned as they are."""
    from PIL import Image, ImageFilter

    height, width = gray.shape
    if min(height, width) < 96:
        return gray
    # a photograph's sensor noise, which the ink threshold would otherwise take for specks of ink (a 5-pixel median
    # keeps strokes: at this size they are wider)
    gray = np.asarray(Image.fromarray(np.asarray(gray, dtype=np.uint8)).filter(ImageFilter.MedianFilter(5)))
    small = Image.fromarray(gray).resize((max(width // 4, 1), max(height // 4, 1)), Image.Resampling.BILINEAR)
    window = max(3, int(min(small.size) * 0.15) | 1)
    paper = small.filter(ImageFilter.MaxFilter(window)).filter(ImageFilter.MinFilter(window))
    level = np.asarray(paper.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(gray.astype(np.float32) / np.maximum(level, 1.0) * 255.0, 0, 255)


def prepare(image, size: int = SIZE) -> np.ndarray:
    """A PIL image (any mode) -> float32 array (1, 1, size, size); :class:`NoInk` when nothing is written on it."""
    from PIL import Image

    gray = image.convert("L")
    if max(gray.size) > WORKING_SIDE:
        gray.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.BILINEAR)
    amount = ink(flatten_lighting(np.asarray(gray)))
    mask = amount > 0.25
    if not mask.any() or mask.mean() > 0.9:
        raise NoInk("no ink found (a blank, uniformly dark or transparent image)")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    amount = amount[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = amount.shape
    side = int(np.ceil(max(height, width) * (1 + 2 * MARGIN)))
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = amount
    resized = Image.fromarray((square * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    return (np.asarray(resized, dtype=np.float32) / 255.0)[None, None]
