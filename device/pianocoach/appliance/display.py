"""Drawing screens with Pillow at the display's size, and the displays that show them.

Backends: ``ssd1306`` (128x64 monochrome OLED on I2C), ``st7735`` / ``ili9341`` (colour TFTs on SPI),
all through luma; ``image`` (every frame saved as a PNG, through luma's in-memory ``dummy`` device, so the
same luma code path runs) and ``terminal`` (the frame's text on stdout). A display that cannot be opened,
or fails while showing a frame, is logged and replaced by ``terminal``: scoring never stops for it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from PIL import Image, ImageDraw, ImageFont

from pianocoach.appliance.config import DisplayConfig
from pianocoach.appliance.screens import Capacity, Cell, Screen
from pianocoach.errors import PianoCoachError

log = logging.getLogger(__name__)

# Debian packages: fonts-dejavu-core (Latin), fonts-arphic-uming (a Ming face stays legible at 12 px)
LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
CJK_FONTS = (
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Light.ttf",
)


class DisplayError(PianoCoachError):
    """A display cannot be opened or drawn on."""


def find_font(language: str, override: str = "") -> str | None:
    candidates = ((override,) if override else ()) + (CJK_FONTS if language == "zh" else LATIN_FONTS)
    return next((path for path in candidates if path and Path(path).is_file()), None)


@dataclass
class Fonts:
    small: ImageFont.FreeTypeFont | ImageFont.ImageFont  # Pillow's built-in font when no font file is found
    text: ImageFont.FreeTypeFont | ImageFont.ImageFont
    big: ImageFont.FreeTypeFont | ImageFont.ImageFont


def load_fonts(height: int, language: str, override: str = "") -> Fonts:
    """Sizes from the display height: 128x64 gets 10 px text (12 px for Chinese) and a 22 px figure."""
    scale = height / 64
    text = round((12 if language == "zh" else 10) * min(scale, 2.5))
    small = round((12 if language == "zh" else 9) * min(scale, 2.5))
    big = round(22 * min(scale, 3))
    path = find_font(language, override)
    if path is None:  # Pillow's built-in font has no CJK glyphs; say so once
        log.warning(
            "no %s font found (install %s); using Pillow's default",
            language,
            "fonts-arphic-uming" if language == "zh" else "fonts-dejavu-core",
        )
        return Fonts(*(ImageFont.load_default(size) for size in (small, text, big)))
    return Fonts(ImageFont.truetype(path, small), ImageFont.truetype(path, text), ImageFont.truetype(path, big))


MIN_CELL = 5  # px: the smallest bar-map box that still shows filled, crossed and empty apart at 128x64
MAX_CELL = 12  # px at 64 px height (scaled up with the display)
CELL_GAP = 1


class Layout:
    """Where things go on a ``width`` x ``height`` screen, and how to draw a :class:`Screen` there."""

    def __init__(self, width: int, height: int, mode: str, language: str, font: str = "") -> None:
        self.width, self.height, self.mode, self.language = width, height, mode, language
        self.fonts = load_fonts(height, language, font)
        self.pad = max(1, width // 64)
        self.title_h = self._line_height(self.fonts.text) + 4
        self.line_h = self._line_height(self.fonts.text) + 1
        self.bar_h = self._line_height(self.fonts.small) + self._track_h() + 1
        body = height - self.title_h
        self.capacity = Capacity(
            lines=max(1, body // self.line_h),
            bars=max(1, body // self.bar_h),
            cells=self._grid_room(MIN_CELL),
            wrap=self.wrap,
        )

    def _track_h(self) -> int:
        return max(4, self.height // 16)

    @staticmethod
    def _line_height(font) -> int:
        top, bottom = font.getbbox("Ag中")[1::2]
        return bottom - top + 1

    @staticmethod
    def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, int], text: str, font, fill) -> None:
        """Text whose glyph tops (not the font's ascent) sit at ``y``: no blank rows on a 64 px screen."""
        draw.text((xy[0], xy[1] - font.getbbox("Ag中")[1]), text, font=font, fill=fill)

    # -- text fitting --------------------------------------------------------------------------------
    def fit(self, text: str, font, width: int | None = None) -> str:
        """The text, cut with an ellipsis when it is wider than ``width``."""
        width = width or self.width - 2 * self.pad
        if font.getlength(text) <= width:
            return text
        while text and font.getlength(text + "…") > width:
            text = text[:-1]
        return text + "…"

    def wrap(self, text: str) -> list[str]:
        """Lines of text that fit the width: by words, or by characters for Chinese."""
        font, width = self.fonts.text, self.width - 2 * self.pad
        units = list(text) if self.language == "zh" else text.split()
        joiner = "" if self.language == "zh" else " "
        lines, current = [], ""
        for unit in units:
            trial = current + joiner + unit if current else unit
            if font.getlength(trial) <= width or not current:
                current = trial
            else:
                lines.append(current)
                current = unit
        if current:
            lines.append(current)
        return [self.fit(line, font) for line in lines]

    # -- the bar map -------------------------------------------------------------------------------
    def _grid_room(self, size: int) -> int:
        columns, rows = self._grid_shape(size)
        return columns * rows

    def _grid_shape(self, size: int) -> tuple[int, int]:
        """Columns and rows of ``size`` px boxes below the title."""
        step = size + CELL_GAP
        columns = (self.width - 2 * self.pad + CELL_GAP) // step
        rows = (self.height - self.title_h + CELL_GAP) // step
        return max(1, columns), max(1, rows)

    def cell_size(self, n: int) -> int:
        """The largest box (px) with which ``n`` boxes fit (the smallest legible size when none does)."""
        largest = max(MIN_CELL, round(MAX_CELL * self.height / 64))
        return next((size for size in range(largest, MIN_CELL, -1) if self._grid_room(size) >= n), MIN_CELL)

    def _draw_cells(self, draw: ImageDraw.ImageDraw, cells: tuple[Cell, ...], y: int, fg, accent) -> None:
        """Bars as played, left to right and wrapping to rows: an empty box for a clean bar, a filled one for a bar
        with wrong or missed notes, a dot for extra notes only, a cross for a stop before it (drawn in the background
        colour on a filled box). Below the grid, where there is room, the first and last bar numbers."""
        size = self.cell_size(len(cells))
        columns, rows = self._grid_shape(size)
        step = size + CELL_GAP
        background = "black" if self.mode != "1" else 0
        for k, cell in enumerate(cells[: columns * rows]):
            x0, y0 = self.pad + (k % columns) * step, y + (k // columns) * step
            x1, y1 = x0 + size - 1, y0 + size - 1
            draw.rectangle((x0, y0, x1, y1), outline=fg, fill=accent if cell.errors else None)
            if cell.extra and not cell.errors and not cell.stop and size >= 5:
                middle_x, middle_y = (x0 + x1) // 2, (y0 + y1) // 2
                draw.point((middle_x, middle_y), fill=fg)
            if cell.stop:
                ink = background if cell.errors else fg
                draw.line((x0 + 1, y0 + 1, x1 - 1, y1 - 1), fill=ink)
                draw.line((x0 + 1, y1 - 1, x1 - 1, y0 + 1), fill=ink)
        used = y + ((min(len(cells), columns * rows) + columns - 1) // columns) * step
        small = self.fonts.small
        if cells and used + self._line_height(small) <= self.height:  # a row of text fits under the grid
            self._text(draw, (self.pad, used), cells[0].bar, small, fg)
            last = cells[min(len(cells), columns * rows) - 1].bar
            self._text(draw, (self.width - self.pad - small.getlength(last), used), last, small, fg)

    # -- drawing -----------------------------------------------------------------------------------
    def draw(self, screen: Screen) -> Image.Image:
        colour = self.mode != "1"
        fg, accent = ("white", (80, 200, 255)) if colour else (255, 255)
        image = Image.new(self.mode, (self.width, self.height), "black" if colour else 0)
        draw = ImageDraw.Draw(image)
        if not colour:
            draw.fontmode = "1"  # no anti-aliasing on a 1-bit display
        f, pad = self.fonts, self.pad
        # title bar, inverted, with the page number at its right
        draw.rectangle((0, 0, self.width - 1, self.title_h - 2), fill=accent if colour else 255)
        page = f"{screen.page[0]}/{screen.page[1]}" if screen.page else ""
        page_w = int(f.small.getlength(page)) + pad if page else 0
        ink = "black" if colour else 0
        self._text(draw, (pad, 1), self.fit(screen.title, f.text, self.width - 2 * pad - page_w), f.text, ink)
        if page:
            self._text(draw, (self.width - page_w, 2), page, f.small, ink)
        y = self.title_h
        if screen.big:
            self._text(draw, (pad, y), self.fit(screen.big, f.big), f.big, fg)
            y += self._line_height(f.big) + 1
        if screen.meter is not None:
            meter_h = max(4, self.height // 12)
            draw.rectangle((pad, y, self.width - pad - 1, y + meter_h), outline=fg)
            filled = int((self.width - 2 * pad - 2) * screen.meter)
            if filled > 0:
                draw.rectangle((pad + 1, y + 1, pad + filled, y + meter_h - 1), fill=accent if colour else 255)
            y += meter_h + 3
        for line in screen.lines:
            if y + self.line_h > self.height + 1:
                break
            self._text(draw, (pad, y), self.fit(line, f.text), f.text, fg)
            y += self.line_h
        for bar in screen.bars:
            y = self._draw_bar(draw, bar, y, fg, accent if colour else 255)
        if screen.cells:
            self._draw_cells(draw, screen.cells, y, fg, accent if colour else 255)
        return image

    def _draw_bar(self, draw: ImageDraw.ImageDraw, bar, y: int, fg, accent) -> int:
        f, pad = self.fonts, self.pad
        half = (self.width - 2 * pad) // 2 - pad
        self._text(draw, (pad, y), self.fit(bar.low, f.small, half), f.small, fg)
        high = self.fit(bar.high, f.small, half)
        self._text(draw, (self.width - pad - f.small.getlength(high), y), high, f.small, fg)
        y += self._line_height(f.small)
        track_h = self._track_h()
        left, right = pad, self.width - pad - 1
        middle = (left + right) // 2
        if bar.position is None:  # the input cannot show this scale: a dotted track, no marker
            for x in range(left, right + 1, 4):
                draw.point((x, y + track_h // 2), fill=fg)
            return y + track_h + 1
        draw.rectangle((left, y, right, y + track_h - 1), outline=fg)
        draw.line((middle, y, middle, y + track_h - 1), fill=fg)
        x = left + round((right - left) * min(1.0, max(0.0, bar.position)))
        draw.rectangle((max(left, x - 2), y, min(right, x + 2), y + track_h - 1), fill=accent)
        return y + track_h + 1


class Display(Protocol):
    layout: Layout

    def show(self, screen: Screen) -> None: ...

    def close(self) -> None: ...


class LumaDisplay:
    """A real panel through luma: the device is opened here, so a missing panel fails at start."""

    def __init__(self, config: DisplayConfig, language: str) -> None:
        try:
            self.device = open_luma_device(config)
        except Exception as exc:  # luma raises DeviceNotFoundError, DevicePermissionError, OSError, ImportError...
            raise DisplayError(f"display {config.kind}: cannot open ({type(exc).__name__}: {exc})") from exc
        self.layout = Layout(self.device.width, self.device.height, self.device.mode, language, config.font)

    def show(self, screen: Screen) -> None:
        self.device.display(self.layout.draw(screen))

    def close(self) -> None:
        self.device.cleanup()


def open_luma_device(config: DisplayConfig):
    if config.kind == "ssd1306":
        from luma.core.interface.serial import i2c
        from luma.oled.device import ssd1306

        return ssd1306(
            i2c(port=config.i2c_port, address=config.i2c_address),
            width=config.width,
            height=config.height,
            rotate=config.rotate,
        )
    from luma.core.interface.serial import spi

    serial = spi(port=config.spi_port, device=config.spi_device, gpio_DC=config.gpio_dc, gpio_RST=config.gpio_rst)
    if config.kind == "st7735":
        from luma.lcd.device import st7735

        return st7735(
            serial, width=config.width, height=config.height, rotate=config.rotate, gpio_LIGHT=config.gpio_backlight
        )
    from luma.lcd.device import ili9341

    return ili9341(
        serial, width=config.width, height=config.height, rotate=config.rotate, gpio_LIGHT=config.gpio_backlight
    )


class ImageDisplay:
    """Every frame as ``NNNN-<state>.png`` in a folder, plus ``frames.jsonl`` (file, state, text)."""

    def __init__(
        self,
        folder: str | Path,
        width: int = 128,
        height: int = 64,
        mode: str = "1",
        language: str = "en",
        font: str = "",
    ) -> None:
        from luma.core.device import dummy  # luma's in-memory device: the image of the last frame

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.device = dummy(width=width, height=height, mode=mode)
        self.layout = Layout(width, height, mode, language, font)
        self.count = len(list(self.folder.glob("*.png")))
        self.frames: deque[Path] = deque(maxlen=1000)  # the newest frames (a daemon runs for months)

    def show(self, screen: Screen) -> None:
        self.device.display(self.layout.draw(screen))
        path = self.folder / f"{self.count:04d}-{screen.state}.png"
        temporary = path.with_suffix(".png.tmp")
        self.device.image.save(temporary, format="PNG")
        os.replace(temporary, path)
        with open(self.folder / "frames.jsonl", "a", encoding="utf-8") as index:
            index.write(
                json.dumps({"file": path.name, "state": screen.state, "text": screen.text()}, ensure_ascii=False) + "\n"
            )
        self.frames.append(path)
        self.count += 1

    def close(self) -> None:
        pass


class TerminalDisplay:
    """The frame's text, framed by a rule, on a text stream (stdout by default)."""

    def __init__(self, width: int = 128, height: int = 64, language: str = "en", stream: TextIO | None = None) -> None:
        self.layout = Layout(width, height, "1", language)
        self.stream = stream or sys.stdout

    def show(self, screen: Screen) -> None:
        self.stream.write("-" * 32 + "\n" + screen.text() + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class SafeDisplay:
    """Shows on the configured display; the first failure is logged and the terminal takes over."""

    def __init__(self, display: Display, language: str) -> None:
        self.display = display
        self.language = language
        self.failed: str | None = None  # why the configured display was given up

    @property
    def layout(self) -> Layout:
        return self.display.layout

    def show(self, screen: Screen) -> None:
        try:
            self.display.show(screen)
        except Exception as exc:  # a panel that fails mid-run (I2C error, unplugged) must not stop scoring
            self.failed = f"{type(exc).__name__}: {exc}"
            log.error("display failed (%s); showing frames on the terminal from now on", self.failed)
            self.display = TerminalDisplay(language=self.language)
            self.display.show(screen)

    def close(self) -> None:
        try:
            self.display.close()
        except Exception as exc:  # closing a broken panel is best effort
            log.warning("display close failed: %s", exc)


def open_display(config: DisplayConfig, language: str, image_dir: Path) -> SafeDisplay:
    """The configured display, or the terminal when it cannot be opened (logged)."""
    try:
        if config.kind == "image":
            display: Display = ImageDisplay(
                image_dir, config.width, config.height, "1" if config.height <= 64 else "RGB", language, config.font
            )
        elif config.kind == "terminal":
            display = TerminalDisplay(config.width, config.height, language)
        else:
            display = LumaDisplay(config, language)
    except (DisplayError, OSError) as exc:
        log.error("%s; falling back to the terminal", exc)
        safe = SafeDisplay(TerminalDisplay(config.width, config.height, language), language)
        safe.failed = str(exc)
        return safe
    log.info("display: %s %dx%d", config.kind, display.layout.width, display.layout.height)
    return SafeDisplay(display, language)
