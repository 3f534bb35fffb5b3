"""What the woodblock renderer learned and how its characters look beside the real ones.

    python -m pianocoach_train jianzipu woodblock    # reports/jianzipu/woodblock.{md,json,png}

The figure: rows of (real crop, woodblock render of the same reading, the font renderer's render of it), for
training-page crops of the most common layouts. The JSON: the layouts measured (per key: measurements, median
boxes), the frames' ranges, and how often the renderer carves a training crop's reading as its label's tree.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pianocoach.jianzipu.parser import parse
from pianocoach.jianzipu.vocab import Reading
from pianocoach.jsonio import write_json_atomic
from pianocoach_train.jianzipu import real_crops
from pianocoach_train.jianzipu.dataset import TECHNIQUES as FONT_TECHNIQUES
from pianocoach_train.jianzipu.layouts import Layouts, layout_key, learn
from pianocoach_train.jianzipu.render import TRAIN_FONTS, render
from pianocoach_train.jianzipu.woodblock import tree_of, woodblock

log = logging.getLogger(__name__)

FIGURE_ROWS = 8
FIGURE_COLUMNS = 3  # triples per row


def carved_as_labelled(crops: list[real_crops.Crop], layouts: Layouts) -> dict:
    """Of the training crops' readings, how many the renderer draws, and how many of those as the label's tree."""
    drawn = [(c, tree_of(c.reading, layouts.stroke_operators)) for c in crops if c.reading is not None]
    drawable = [(c, t) for c, t in drawn if t is not None]
    same = sum(t == real_crops.parse_tree(list(c.tokens)) for c, t in drawable)
    return {"readings": len(drawn), "drawn": len(drawable), "as_labelled": same, "share": same / max(len(drawable), 1)}


def examples(crops: list[real_crops.Crop], layouts: Layouts, count: int) -> list[real_crops.Crop]:
    """Crops of as many different top-level layouts as possible, in a fixed order."""
    rng = np.random.default_rng(0)
    by_key: dict[str, list[real_crops.Crop]] = {}
    for crop in crops:
        tree = tree_of(crop.reading, layouts.stroke_operators) if crop.reading else None
        if isinstance(tree, tuple):
            key = layout_key(tree) + "/" + (layout_key(tree[-1]) if isinstance(tree[-1], tuple) else "")
            by_key.setdefault(key, []).append(crop)
    keys = sorted(by_key, key=lambda k: -len(by_key[k]))
    chosen: list[real_crops.Crop] = []
    while len(chosen) < count and any(by_key.values()):
        for key in keys:
            if by_key[key] and len(chosen) < count:
                chosen.append(by_key[key].pop(int(rng.integers(len(by_key[key])))))
    return chosen


def font_render(reading: Reading, seed: int):
    """The font renderer's image of ``reading``, or None outside what it draws (issue 20's parts: a finger and a hui
    or an open string, one of its eight strokes, no first stroke, no marks)."""
    stopped = reading.form in ("stopped", "harmonic") and reading.finger and reading.hui is not None
    if not (stopped or reading.form == "open") or reading.technique not in FONT_TECHNIQUES:
        return None
    if reading.prefix or reading.marks:
        return None
    return render(parse(reading.text), TRAIN_FONTS[seed % len(TRAIN_FONTS)], seed=seed)


def figure(crops: list[real_crops.Crop], layouts: Layouts, path: Path) -> None:
    from pianocoach.jianzipu.image import load_image
    from pianocoach_train.plots import pyplot, save_figure

    chosen = examples(crops, layouts, FIGURE_ROWS * FIGURE_COLUMNS)
    plt = pyplot()
    fig, axes = plt.subplots(FIGURE_ROWS, FIGURE_COLUMNS * 3, figsize=(9, 12))
    titles = ("real", "woodblock", "font")
    for i, crop in enumerate(chosen):
        assert crop.reading is not None  # examples() keeps read crops
        images = [
            load_image(crop.path),
            woodblock(crop.reading, layouts, seed=i),
            font_render(crop.reading, i),
        ]
        for j, image in enumerate(images):
            ax = axes[i // FIGURE_COLUMNS, (i % FIGURE_COLUMNS) * 3 + j]
            if image is not None:
                ax.imshow(np.asarray(image), cmap="gray", vmin=0, vmax=255)
            else:
                ax.text(0.5, 0.5, "not drawn", ha="center", va="center", fontsize=7, color="grey")
                ax.set_frame_on(False)
            ax.set_xticks([])
            ax.set_yticks([])
            if i < FIGURE_COLUMNS:
                ax.set_title(titles[j], fontsize=9)
    for k in range(len(chosen), FIGURE_ROWS * FIGURE_COLUMNS):
        for j in range(3):
            axes[k // FIGURE_COLUMNS, (k % FIGURE_COLUMNS) * 3 + j].axis("off")
    # (no CJK in matplotlib's text: its bundled font has none)
    fig.suptitle("Wushen Qinpu training-page crops, the woodblock renderer and the font renderer (same readings)")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def write_woodblock_report(out_dir: Path, root: Path | None = None) -> dict[str, Path]:
    from pianocoach_train.jianzipu.train import held_out_pages

    crops = [c for c in real_crops.load_crops(root) if c.page not in held_out_pages() and c.reading is not None]
    layouts = learn(crops)
    carved = carved_as_labelled(crops, layouts)
    frames = layouts.frames

    def spread(values: list[float]) -> list[float]:
        return [round(float(v), 3) for v in np.percentile(values, [10, 50, 90])]

    data = {
        "data": "五声琴谱 training pages (not the validation or development pages)",
        "crops": len(crops),
        "carved_as_labelled": carved,
        "frames": {
            "n": len(frames),
            "height_px_p10_50_90": spread([f.height for f in frames]),
            "width_px_p10_50_90": spread([f.width for f in frames]),
            "stroke_over_height_p10_50_90": spread([f.stroke for f in frames]),
            "grain_p10_50_90": spread([f.grain for f in frames]),
        },
        "stroke_operators": {k: v for k, v in sorted(layouts.stroke_operators.items()) if "/" not in k},
        "layouts": layouts.summary(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md, png = out_dir / "woodblock.json", out_dir / "woodblock.md", out_dir / "woodblock.png"
    write_json_atomic(js, data)
    figure(crops, layouts, png)
    rows = "\n".join(
        f"| `{key}` | {v['n']} | " + "; ".join(" ".join(f"{x:.2f}" for x in box) for box in v["median_boxes"]) + " |"
        for key, v in list(data["layouts"].items())[:16]
    )
    text = (
        "# Woodblock renderer\n\n"
        f"Learned from {len(crops)} labelled crops of the 五声琴谱 training pages. It draws "
        f"{carved['drawn']} of their {carved['readings']} readings (not: marks other than 注 and 间, characters "
        f"without a stroke), and carves {carved['share']:.3f} of those as the label's own IDC tree.\n\n"
        "Median part boxes per layout (each child: top bottom left right, as fractions of its parent's box; S a "
        "stroke, H the left hand, N numbers, M a mark):\n\n| layout | measured | median child boxes |\n"
        "| --- | --- | --- |\n" + rows + "\n\n"
        f"Frames: crop height {data['frames']['height_px_p10_50_90']} px and stroke width "
        f"{data['frames']['stroke_over_height_p10_50_90']} of the character's height (10th, 50th, 90th "
        "percentiles).\n\n![real, woodblock and font renders](woodblock.png)\n"
    )
    tmp = md.with_name(".woodblock.md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(md)
    log.info("woodblock report: %s", md)
    return {"markdown": md, "json": js, "plot": png}
