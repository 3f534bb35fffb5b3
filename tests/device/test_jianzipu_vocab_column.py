"""The reader's vocabulary (parts <-> head classes, valid readings, the top readings), cutting a column into
characters, and the playable line a column makes."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pianocoach.jianzipu.column import cut_column
from pianocoach.jianzipu.sequence import playable_line
from pianocoach.jianzipu.vocab import (
    HEADS,
    MARKS,
    MARKS_OUTPUT,
    Reading,
    labels,
    mark_targets,
    reading,
    reading_of,
    top_readings,
)

READINGS = [
    Reading("stopped", "名", "10", 0, None, "勾", 2),
    Reading("open", None, "none", 0, None, "挑", 7),
    Reading("unmarked", None, "none", 0, "抹", "挑", 7),
    Reading("stopped", "大", "9", 0, "勾", "勾", 4, frozenset({"间"})),
    Reading("stopped", "名", "7", 8, marks=frozenset({"对起"})),
    Reading("stopped", "名", "外", 0, None, "勾", 5),
    Reading("harmonic", "中", "7", 0, None, "勾", 3),
]


@pytest.mark.parametrize("read", READINGS, ids=lambda r: r.form + (r.technique or "-"))
def test_a_reading_survives_the_heads_classes(read):
    assert read.valid()
    indices = labels(read)
    assert reading(indices, frozenset(m for m, on in zip(MARKS, mark_targets(read)) if on)) == read


@pytest.mark.parametrize(
    "read",
    [
        Reading("open", "名", "7"),  # an open string has no finger
        Reading("harmonic", "中", "7", 6, None, "勾", 3),  # harmonics only at a hui
        Reading("stopped"),  # a stopped note needs a finger or hui
        Reading("unmarked", None, "none", 0, "抹", None, 7),  # a prefix needs the stroke after it
        Reading("stopped", "名", "none", 4, None, "勾", 2),  # a tenth without its hui
    ],
)
def test_invalid_part_combinations_are_not_readings(read):
    assert not read.valid()


def test_top_readings_skip_invalid_combinations_and_rank_by_probability():
    truth = READINGS[0]
    probabilities = {}
    for head, classes in HEADS.items():
        p = np.full(len(classes), 0.01, dtype=np.float32)
        p[labels(truth)[head]] = 1.0
        probabilities[head] = p / p.sum()
    # the form head prefers "open", which no reading with a finger and a hui allows
    probabilities["form"] = np.array([0.3, 0.6, 0.05, 0.05], dtype=np.float32)
    probabilities[MARKS_OUTPUT] = np.full(len(MARKS), 0.05, dtype=np.float32)
    found = top_readings(probabilities, k=5)
    assert found[0].reading == truth
    assert all(c.reading.valid() for c in found)
    assert [c.probability for c in found] == sorted((c.probability for c in found), reverse=True)


def test_every_parsed_character_has_a_reading():
    from pianocoach.jianzipu import parse

    for text in ("中七六挑五", "散勾三", "泛名七勾四", "大九挑四注"):
        read = reading_of(parse(text))
        assert read.valid() and parse(read.text) == parse(text)


def column_image(heights: list[int], inner_gap: int = 3, gap: int = 12, width: int = 40) -> tuple[Image.Image, list]:
    """Characters of two ink blocks each (a top and a bottom part with a small gap between), stacked with wider
    gaps; returns the image and each character's true (top, bottom) rows."""
    image = Image.new("L", (width + 20, sum(heights) + gap * (len(heights) + 1)), 235)
    draw = ImageDraw.Draw(image)
    y, truth = gap, []
    for h in heights:
        upper = int(h * 0.4)
        draw.rectangle((10, y, 10 + width, y + upper), fill=20)
        draw.rectangle((14, y + upper + inner_gap, 6 + width, y + h), fill=20)
        truth.append((y, y + h))
        y += h + gap
    return image, truth


def test_a_column_is_cut_between_characters_not_inside_them():
    image, truth = column_image([52, 45, 60, 50, 48])
    pieces = cut_column(np.asarray(image))
    assert len(pieces) == len(truth)
    for (top, bottom), (true_top, true_bottom) in zip(pieces, truth):
        assert abs(top - true_top) <= 7 and abs(bottom - true_bottom) <= 7


def test_a_blank_column_has_no_characters_and_a_single_mark_is_one():
    assert cut_column(np.full((200, 40), 230, dtype=np.uint8)) == []
    image, _ = column_image([50])
    assert len(cut_column(np.asarray(image))) == 1


def test_the_line_carries_an_unwritten_finger_over_and_says_so():
    characters = [
        {
            "written": "名十勾二",
            "form": "stopped",
            "finger": "名",
            "hui": 10.0,
            "technique": "勾",
            "string": 2,
            "note": "D4",
            "frequency_hz": 293.7,
        },
        {
            "written": "七六勾三",
            "form": "stopped",
            "finger": None,
            "hui": 7.6,
            "technique": "勾",
            "string": 3,
            "note": "E4",
            "frequency_hz": 329.6,
        },
        {
            "written": "勾四",
            "form": "unmarked",
            "finger": None,
            "hui": None,
            "technique": "勾",
            "string": 4,
            "note": "G3",
            "frequency_hz": 196.0,
        },
        {"written": None},
    ]
    line = playable_line(characters)
    notes = line["notes"]
    assert notes[1]["finger"] == "名" and "carried over" in notes[1]["said"]
    assert "unless the left hand stays" in notes[2]["said"]
    assert notes[3]["note"] is None and "not read" in notes[3]["said"]
    assert line["text"].count("\n") == 3 and "D4 293.7 Hz" in line["text"]


def test_a_character_outside_the_vocabulary_is_said_so_not_forced_into_a_reading():
    from pianocoach.jianzipu.reader import describe
    from pianocoach.jianzipu.vocab import Candidate

    candidates = [Candidate(READINGS[0], 0.9)]
    outside = describe(candidates, 0.8, "standard", "crop.png")
    assert outside["outside"] is True and outside["written"] is None and "top5" not in outside
    assert "does not know" in outside["said"]
    read = describe(candidates, 0.1, "standard", "crop.png")
    assert read["outside"] is False and read["written"] == READINGS[0].text and read["confidence"] == 0.9
    assert not read["unsure"] and read["note"]
    line = playable_line([outside, read])
    assert "a part the reader does not know" in line["notes"][0]["said"] and line["notes"][1]["written"]


def test_a_ruling_down_the_column_and_a_speck_above_it_are_not_characters():
    image, truth = column_image([52, 45, 60])
    draw = ImageDraw.Draw(image)
    draw.line((5, 0, 5, image.height), fill=0, width=1)  # a ruling down the whole column
    framed = np.asarray(image).copy()
    framed[2:5, 30:33] = 0  # a speck above the first character
    pieces = cut_column(framed)
    assert len(pieces) == len(truth)


def test_what_cannot_be_a_column_is_refused_in_one_line():
    from pianocoach.jianzipu.column import MAX_ASPECT, MAX_PIECES, ColumnError

    with pytest.raises(ColumnError, match="no column of characters"):
        cut_column(np.full((MAX_ASPECT * 3 + 10, 3), 230, dtype=np.uint8))
    image, _ = column_image([40] * (MAX_PIECES + 5), gap=10, width=30)
    with pytest.raises(ColumnError, match="more than one column holds"):
        cut_column(np.asarray(image))


def test_a_wide_column_is_cut_on_a_small_copy_and_mapped_back():
    image, truth = column_image([52, 45, 60, 50])
    big = image.resize((image.width * 8, image.height * 8), Image.Resampling.NEAREST)
    pieces = cut_column(np.asarray(big))
    assert len(pieces) == len(truth)
    for (top, bottom), (true_top, true_bottom) in zip(pieces, truth):
        assert abs(top - 8 * true_top) <= 56 and abs(bottom - 8 * true_bottom) <= 56  # cut mid-gap, as at 1x


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "not a readable image"),
        (lambda p: p.write_bytes(b"P5\n12 x\n255\n" + b"\x00" * 100), "not a readable image"),
        (lambda p: p.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"), "not a readable image"),
    ],
)
def test_a_damaged_or_foreign_image_is_one_line_naming_the_file(tmp_path, make, problem):
    from pianocoach.errors import InputFileError
    from pianocoach.jianzipu.image import load_image

    path = tmp_path / "page.png"
    make(path)
    with pytest.raises(InputFileError, match=f"page.png: {problem}") as caught:
        load_image(path)
    assert "\n" not in str(caught.value)


def test_a_blank_image_has_no_ink_and_transparency_lies_on_white_paper(tmp_path):
    from pianocoach.jianzipu.image import NoInk, load_image, prepare

    with pytest.raises(NoInk, match="no ink found"):
        prepare(Image.new("L", (40, 60), 255))
    with pytest.raises(NoInk):
        prepare(Image.new("L", (40, 60), 0))
    clear = Image.new("RGBA", (40, 60), (0, 0, 0, 0))  # black where transparent: paper once laid on white
    ImageDraw.Draw(clear).rectangle((10, 10, 30, 50), fill=(0, 0, 0, 255))
    clear.save(tmp_path / "clear.png")
    square = prepare(load_image(tmp_path / "clear.png"))[0, 0]
    assert 0.1 < (square > 0.5).mean() < 0.9  # the stroke, not a black page


def test_the_heads_classes_are_the_knowledge_datas_strokes_and_the_parsers_marks():
    from pianocoach.jianzipu import load_knowledge
    from pianocoach.jianzipu.parser import mark_order
    from pianocoach.jianzipu.vocab import FINGERS, STROKES

    knowledge = load_knowledge()
    assert set(STROKES) == {c.name for c in knowledge.of_kind("technique")}
    assert set(FINGERS[1:]) == {c.name for c in knowledge.of_kind("finger")}
    assert MARKS == mark_order(knowledge)
