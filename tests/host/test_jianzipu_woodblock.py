"""The woodblock renderer: layouts measured on the real training crops, trees carved as the pages carve them,
characters finished to a real crop's frame."""

import numpy as np
import pytest

from pianocoach.jianzipu.image import SIZE
from pianocoach.jianzipu.vocab import Reading
from pianocoach_train.jianzipu.layouts import Layouts, learn, measure_tree
from pianocoach_train.jianzipu.real_crops import load_crops, parse_tree
from pianocoach_train.jianzipu.train import held_out_pages
from pianocoach_train.jianzipu.woodblock import stroke_width, tree_of, woodblock, woodblock_images


@pytest.fixture(scope="module")
def training_crops():
    return [c for c in load_crops() if c.page not in held_out_pages() and c.reading is not None]


@pytest.fixture(scope="module")
def layouts(training_crops):
    return learn(training_crops)


def test_part_boxes_are_measured_from_the_ink():
    """A hand (two blocks side by side) over a wrapping stroke with a block inside it: each part's box is found."""
    mask = np.zeros((100, 60), dtype=bool)
    mask[5:40, 5:25] = True  # finger
    mask[5:40, 35:55] = True  # hui
    mask[55:60, 5:55] = True  # the wrap: a bar and a side, one piece
    mask[55:95, 50:55] = True
    mask[65:90, 10:40] = True  # the string inside it
    layouts = Layouts()
    tree = ("⿱", ("⿰", "LEFT_FINGER_DA", "7"), ("⿹", "RIGHT_GOU", "2"))
    measure_tree(tree, mask, (5, 95, 5, 55), layouts)
    top, bottom = layouts.boxes["⿱HS"][0][1]
    assert np.allclose(top, [0, 35 / 90, 0, 1]) and np.allclose(bottom, [50 / 90, 1, 0, 1])
    finger, hui = layouts.boxes["⿰HN"][0][1]
    assert finger[3] < 0.45 and hui[2] > 0.55
    leaves, (outer, inner) = layouts.boxes["⿹RIGHT_GOU"][0]
    assert leaves == ("RIGHT_GOU", "2")
    assert np.allclose(outer, [0, 1, 0, 1]) and np.allclose(inner, [10 / 40, 35 / 40, 5 / 50, 35 / 50])


def test_a_character_whose_ink_does_not_split_as_labelled_is_not_measured():
    mask = np.zeros((100, 60), dtype=bool)
    mask[5:95, 5:55] = True  # one solid piece cannot be 勹 round a string
    layouts = Layouts()
    measure_tree(("⿹", "RIGHT_GOU", "2"), mask, (5, 95, 5, 55), layouts)
    assert not layouts.boxes


def test_layouts_learned_from_the_training_pages(layouts):
    assert len(layouts.frames) > 1500
    assert {"⿱HS", "⿰HN", "⿹RIGHT_GOU", "⿺RIGHT_TIAO", "⿹RIGHT_DA", "⿸RIGHT_BI"} <= set(layouts.boxes)
    assert layouts.stroke_operators["RIGHT_GOU"] == "⿹" and layouts.stroke_operators["RIGHT_TIAO"] == "⿺"
    assert layouts.stroke_operators["RIGHT_MO"] == "⿱"  # 木 of 抹 is written above its string
    summary = layouts.summary()
    (top, bottom) = summary["⿱HS"]["median_boxes"]
    assert 0.35 < top[1] < 0.65 and 0.35 < bottom[0] < 0.65  # the hand over the stroke, about halfway
    inner = summary["⿺RIGHT_TIAO"]["median_boxes"][1]
    assert inner[1] < 0.8  # 乚 sweeps under its string


def test_trees_are_carved_as_the_pages_carve_them(training_crops, layouts):
    """The renderer's IDC tree for a training crop's reading is the crop's own label's tree."""
    drawn = [(c, tree_of(c.reading, layouts.stroke_operators)) for c in training_crops]
    drawn = [(c, t) for c, t in drawn if t is not None]
    same = np.mean([t == parse_tree(list(c.tokens)) for c, t in drawn])
    assert len(drawn) > 0.85 * len(training_crops) and same > 0.95, same
    gou = Reading("stopped", "名", "10", 0, None, "勾", 2)
    assert tree_of(gou, layouts.stroke_operators) == ("⿱", ("⿰", "LEFT_FINGER_MING", "10"), ("⿹", "RIGHT_GOU", "2"))
    zhu = Reading("stopped", "大", "7", 6, None, "挑", 4, frozenset({"注"}))
    assert tree_of(zhu, layouts.stroke_operators) == (
        "⿱",
        ("⿰", "LEFT_FINGER_DA", ("⿱", "7", "6")),
        ("⿰", "LEFT_ZHU", ("⿺", "RIGHT_TIAO", "4")),
    )
    assert tree_of(Reading("stopped", "名", "10", 0, None, None, None, frozenset({"对起"})), {}) is None


def test_a_woodblock_character_is_finished_to_a_real_crops_frame(layouts):
    reading = Reading("stopped", "中", "9", 0, None, "打", 1)
    first, again, other = (woodblock(reading, layouts, seed) for seed in (4, 4, 5))
    assert first is not None and other is not None
    assert np.array_equal(np.asarray(first), np.asarray(again)) and not np.array_equal(first, other)
    sizes = {(f.width, f.height) for f in layouts.frames}
    assert first.size in sizes
    gray = np.asarray(first)
    assert gray.max() - gray.min() > 150  # dark ink on pale paper, as the scans
    strokes = [f.stroke for f in layouts.frames]
    low, high = np.percentile(strokes, 5), np.percentile(strokes, 95)
    widths = []
    for seed in range(12):
        image = np.asarray(woodblock(reading, layouts, seed)).astype(np.float32)
        ink = image < (image.max() + image.min()) / 2
        rows = np.flatnonzero(ink.any(axis=1))
        widths.append(stroke_width(ink) / (rows[-1] - rows[0] + 1))
    assert low * 0.7 < np.median(widths) < high * 1.3, (np.median(widths), low, high)  # ink spread as printed


def test_woodblock_images_are_prepared_with_their_readings(layouts):
    images, readings = woodblock_images(layouts, 24, seed=1, progress=False)
    assert images.shape[0] == 24 and len(readings) == 24
    assert images.shape[1:] == (SIZE, SIZE)
    assert all(r.valid() for r in readings) and len({r.text for r in readings}) > 15
    assert all((image > 64).mean() > 0.02 for image in images)


def test_the_woodblock_report_shows_what_was_learned(tmp_path):
    from pianocoach_train.jianzipu.woodblock_report import write_woodblock_report

    paths = write_woodblock_report(tmp_path)
    import json

    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["carved_as_labelled"]["share"] > 0.95 and data["layouts"]["⿱HS"]["n"] > 500
    assert paths["plot"].stat().st_size > 20_000 and "carves" in paths["markdown"].read_text(encoding="utf-8")


def test_the_cli_offers_every_reader_variant():
    from pianocoach_train.cli import build_parser
    from pianocoach_train.jianzipu.train import VARIANTS

    for variant in VARIANTS:
        assert build_parser().parse_args(["jianzipu", "train", "--variant", variant]).variant == variant
