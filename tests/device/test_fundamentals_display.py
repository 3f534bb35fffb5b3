"""The result pages with the fundamentals on a 128x64 display: the mark and the one thing to work on first, the notes
page, and the bar map (boxes filled for wrong notes, crossed for a stop), legible up to a 64-bar piece."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from fundamentals_takes import ode_take, score_take

from pianocoach.appliance import screens
from pianocoach.appliance.display import CELL_GAP, Layout


@pytest.fixture(scope="module")
def take(tmp_path_factory, scorer):
    """Ode to Joy from MIDI: two wrong notes in bar 3, a stop before bar 9."""
    return score_take(ode_take(tmp_path_factory.mktemp("take") / "take.mid"), scorer)


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("L")) > 0


def clean_bars(n: int) -> list[dict]:
    return [
        {
            "bar": str(k + 1),
            "start_s": 2.0 * k,
            "end_s": 2.0 * k + 1.9,
            "correct": 4,
            "errors": {"wrong": [], "missed": [], "extra": []},
            "stops": [],
            "tempo_qpm": 100.0,
        }
        for k in range(n)
    ]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_first_page_shows_the_mark_and_the_one_thing_to_work_on(take, language):
    layout = Layout(128, 64, "1", language)
    first = screens.result_pages(dataclasses.replace(take, language=language), 60.0, layout.capacity)[0]
    assert first.big == f"{take.overall:.0f}/100"
    focus = "Work on: bar 3 notes" if language == "en" else "重点：第3小节的音"
    assert focus in first.lines
    # every line of the page is drawn: the focus line is not pushed off the bottom of the screen
    without = layout.draw(dataclasses.replace(first, lines=tuple(line for line in first.lines if line != focus)))
    assert (pixels(layout.draw(first)) != pixels(without)).any()


def test_the_notes_page_and_the_bar_map_come_after_the_mark(take):
    layout = Layout(128, 64, "1", "en")
    pages = screens.result_pages(take, None, layout.capacity)
    assert [p.title for p in pages[:3]] == ["Result", "Notes", "Bars 1-16"]
    assert pages[1].lines == (
        "Right 98% of 83",
        "Wrong 2 · missed 0",
        "Extra 0 · stops 1",
        "Restarts 0",
    )
    assert pages[2].page == (3, len(pages)) and "..#.....x......." in pages[2].text()
    for page in pages[:3]:
        image = layout.draw(page)
        assert image.size == (128, 64) and image.mode == "1"


def test_the_bar_map_fills_the_bar_with_wrong_notes_and_crosses_the_stop(take):
    layout = Layout(128, 64, "1", "en")
    page = screens.result_pages(take, None, layout.capacity)[2]
    image = pixels(layout.draw(page))
    size = layout.cell_size(len(page.cells))
    columns = (128 - 2 * layout.pad + CELL_GAP) // (size + CELL_GAP)

    def inside(k: int) -> np.ndarray:  # the box's inner pixels
        x0, y0 = (
            layout.pad + (k % columns) * (size + CELL_GAP),
            layout.title_h + (k // columns) * (size + CELL_GAP),
        )
        return image[y0 + 1 : y0 + size - 1, x0 + 1 : x0 + size - 1]

    assert size >= 8  # 16 bars: big boxes
    assert inside(2).all()  # bar 3: filled
    assert not inside(0).any() and not inside(3).any()  # clean bars: empty boxes
    crossed = inside(8)  # bar 9: the stop before it
    assert crossed.any() and not crossed.all() and crossed[size // 2 - 1, size // 2 - 1]


def test_a_64_bar_piece_fits_in_rows_and_a_longer_one_shows_the_bars_with_slips():
    layout = Layout(128, 64, "1", "en")
    bars = clean_bars(64)
    bars[40]["errors"]["missed"].append({"time_s": 80.5, "pitch": 60})
    page = screens.bar_map_screen(bars, "en", layout.capacity)
    assert len(page.cells) == 64 and page.title == "Bars 1-64"
    size = layout.cell_size(64)
    assert size >= 6  # legible: a box, a fill and a cross stay apart
    image = pixels(layout.draw(page))
    # 64 boxes drawn: the ink of the boxes' outlines counts them
    rows_used = -(-64 // ((128 - 2 * layout.pad + CELL_GAP) // (size + CELL_GAP)))
    assert layout.title_h + rows_used * (size + CELL_GAP) <= 64 + CELL_GAP and image[
        layout.title_h :
    ].sum() > 64 * 4 * (size - 1)

    long = clean_bars(400)
    for k in (7, 150, 399):
        long[k]["errors"]["wrong"].append({"time_s": 2.0 * k, "pitch": 61, "expected": 60})
    page = screens.bar_map_screen(long, "en", layout.capacity)
    assert page.title == "Bars with slips" and [c.bar for c in page.cells] == [
        "8",
        "151",
        "400",
    ]
    assert layout.draw(page).size == (128, 64)


def test_free_play_has_a_flow_page_and_no_bar_map(take):
    free = dataclasses.replace(
        take,
        bars=[],
        fundamentals={
            "mode": "free",
            "notes": None,
            "stops": [{"time_s": 4.0, "seconds": 2.0, "bar": None}],
            "restarts": [],
            "skipped_bars": [],
            "tempo": {
                "played_qpm": None,
                "steadiness_pct": 12.0,
                "change_pct": 1.0,
                "trend": "steady",
            },
            "hands": None,
            "dynamics": None,
            "factor": 0.92,
        },
    )
    pages = screens.result_pages(free, None, Layout(128, 64, "1", "en").capacity)
    assert pages[0].lines[1] == "Work on: keep going"
    assert pages[1].title == "Flow" and pages[1].lines == (
        "Stops 1 · restarts 0",
        "Tempo spread 12%",
        "Tempo steady",
    )
    assert not any(p.cells for p in pages)


def test_without_fundamentals_the_pages_are_as_before(take):
    bare = dataclasses.replace(take, fundamentals=None, bars=None, piece=None)
    pages = screens.result_pages(bare, None, Layout(128, 64, "1", "en").capacity)
    assert [p.title for p in pages[:2]] == ["Result", "Scales"] and pages[0].lines[1].startswith("Work on: ")


def test_a_stop_in_the_bar_rows_marks_its_bar_too():
    bars = clean_bars(4)
    bars[2]["stops"] = [{"time_s": 4.5, "seconds": 1.5, "bar": "3"}]
    cells = screens.bar_map_screen(copy.deepcopy(bars), "en", screens.Capacity()).cells
    assert [c.stop for c in cells] == [False, False, True, False]
