"""The feedback model's instruction data carries the fundamentals (issue 18, item 7): on a small synthetic
PercePiano (``synthetic_data.py``) with a MusicXML passage written here for each of its passages, so the takes are
followed along a score, and without ``score_xml/`` (free play)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from synthetic_data import build_synthetic_dataset

from pianocoach.feedback.prompt import HEADINGS
from pianocoach_train.llm.data import BuildOptions, build_instruction_data
from pianocoach_train.llm.records import read_records
from pianocoach_train.percepiano.ids import WORKS

NAMES = ("C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B")
SHARP = {1, 3, 6, 8, 10}


def passage_xml(pitches: list[int], qpm: int = 100) -> str:
    """Quarter notes in 4/4, one voice, a tempo marking."""
    notes = [
        f"<note><pitch><step>{NAMES[p % 12]}</step>{'<alter>1</alter>' if p % 12 in SHARP else ''}"
        f"<octave>{p // 12 - 1}</octave></pitch><duration>1</duration><voice>1</voice><staff>1</staff></note>"
        for p in pitches
    ]
    measures = []
    for number, start in enumerate(range(0, len(notes), 4), 1):
        head = (
            "<attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>"
            f"<direction><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>{qpm}</per-minute>"
            "</metronome></direction-type></direction>"
            if number == 1
            else ""
        )
        measures.append(f'<measure number="{number}">{head}{"".join(notes[start : start + 4])}</measure>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?><score-partwise version="4.0"><work><work-title>Synthetic</work-title>'
        '</work><part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list><part id="P1">'
        + "".join(measures)
        + "</part></score-partwise>"
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The synthetic dataset with the score of each passage (the notes its performers play, as
    ``build_synthetic_dataset`` writes them) in ``score_xml/``."""
    root = build_synthetic_dataset(tmp_path_factory.mktemp("percepiano"))
    (root / "score_xml").mkdir()
    for w, work in enumerate(WORKS):
        for segment in ("1", "2"):
            base = 48 + 5 * w + 2 * int(segment)
            pitches = [base + (i * 7) % 12 + 12 * (i % 2) for i in range(24)]
            (root / "score_xml" / f"{work}_8bars_Score_{segment}.musicxml").write_text(passage_xml(pitches))
    return root


def build(root, out, **options):
    stats = build_instruction_data(BuildOptions(root, out, sources=("percepiano_template",), **options))
    return stats, read_records(out / "train.jsonl") + read_records(out / "validation.jsonl")


@pytest.fixture(scope="module")
def built(dataset, tmp_path_factory):
    return build(dataset, tmp_path_factory.mktemp("llm") / "data", mistake_share=0.5, seed=3)


def fundamentals_line(record) -> str:
    heading = HEADINGS[record.language]["fundamentals"]
    return next(line for line in record.messages[1]["content"].splitlines() if line.startswith(heading))


def test_every_template_prompt_carries_the_piece_and_its_fundamentals(built):
    stats, records = built
    clean = [r for r in records if "simulated" not in r.meta]
    assert len(clean) == 2 * 40 and {r.language for r in clean} == {"en", "zh"}
    for record in clean:
        prompt = record.messages[1]["content"]
        assert "Fundamentals: notes right " in prompt or "基本功： 音弹对 " in prompt
        assert "Piece: Schubert" in prompt or "Piece: Beethoven" in prompt or "曲目：" in prompt
        assert record.meta["piece"] is not None
    f = stats["fundamentals"]
    assert (f["performances"], f["against_a_passage"], f["free_play"]) == (40, 40, 0)


def test_records_with_simulated_mistakes_name_the_bars_and_show_the_errors(built):
    stats, records = built
    simulated = [r for r in records if "simulated" in r.meta]
    chosen = {r.group for r in simulated}
    assert 0 < len(chosen) < 40  # a share of the performances, not all
    assert stats["mistakes"]["performances"] == len(chosen)
    assert sum(stats["mistakes"]["records"].values()) == len(simulated) == 2 * len(chosen)
    assert all(r.source == "percepiano_template" and set(r.meta["simulated"]) for r in simulated)
    assert {k for r in simulated for k in r.meta["simulated"]} <= {"wrong", "missed", "extra", "hesitation", "restart"}
    clean = {(r.group, r.language): r for r in records if "simulated" not in r.meta}
    for record in (r for r in simulated if r.language == "en"):
        made, line, target = record.meta["simulated"], fundamentals_line(record), record.messages[-1]["content"]
        counts = re.search(r"\((\d+) wrong, (\d+) missed, (\d+) extra\)", line).groups()
        wrong, missed, extra = (int(n) for n in counts)
        if "wrong" in made or "missed" in made:  # slips: named by bar, first
            assert wrong + missed > 0 and "errors by bar: " in line and "Bar " in target, (made, line, target)
        if "extra" in made:  # an extra note alone is a brush: in the prompt, not worth a word
            assert extra > 0 and "errors by bar: " in line, (made, line)
        if "hesitation" in made or "restart" in made:
            assert "stops before bars: " in line or "restarts: " in line, (made, line)
            assert re.search(r"\bbars? \d", target), (made, target)
        assert line != fundamentals_line(clean[(record.group, "en")])  # the mistakes change the fundamentals
        assert record.messages[0] == clean[(record.group, "en")].messages[0]
    assert any({"wrong", "missed"} & set(r.meta["simulated"]) for r in simulated)
    # the mark's first layer: the take with mistakes scores below the clean take
    mark = lambda r: float(re.search(r"Overall mark: (\d+)/100", r.messages[1]["content"]).group(1))  # noqa: E731
    assert all(mark(r) <= mark(clean[(r.group, "en")]) for r in simulated if r.language == "en")


def test_records_are_the_same_across_builds_with_the_same_seed(dataset, built, tmp_path):
    _, first = built
    stats, again = build(dataset, tmp_path / "a", mistake_share=0.5, seed=3)
    assert [r.to_json() for r in again] == [r.to_json() for r in first]
    cache = json.loads((tmp_path / "a" / "fundamentals.json").read_text())
    assert len(cache) == 40 + stats["mistakes"]["performances"]
    _, cached = build(dataset, tmp_path / "a", mistake_share=0.5, seed=3)  # from fundamentals.json
    assert [r.to_json() for r in cached] == [r.to_json() for r in first]
    _, other = build(dataset, tmp_path / "b", mistake_share=0.5, seed=4)
    assert {r.group for r in other if "simulated" in r.meta} != {r.group for r in first if "simulated" in r.meta}
    card = (tmp_path / "a" / "DATA_CARD.md").read_text()
    assert "## Simulated mistakes" in card and f"{stats['mistakes']['performances']} performances" in card


def test_without_score_xml_every_take_is_free_play(dataset, tmp_path):
    root = tmp_path / "percepiano"
    shutil.copytree(dataset, root, ignore=shutil.ignore_patterns("score_xml"))
    stats, records = build(root, tmp_path / "out", limit=8)
    assert stats["fundamentals"]["free_play"] == 8 and stats["mistakes"]["performances"] == 0
    assert len(records) == 16 and all("simulated" not in r.meta and r.meta["piece"] is None for r in records)
    for record in records:
        prompt = record.messages[1]["content"]
        assert "Piece:" not in prompt and "曲目" not in prompt  # piece None: as on a device without a repertoire
        assert fundamentals_line(record) and "notes right" not in prompt


def test_a_take_without_its_passage_is_free_play_as_the_device_gives_it(dataset, tmp_path):
    root = tmp_path / "percepiano"
    shutil.copytree(dataset, root)
    (root / "score_xml" / f"{WORKS[0]}_8bars_Score_1.musicxml").unlink()
    stats, records = build(root, tmp_path / "out")
    free = [r for r in records if r.group.startswith(WORKS[0]) and r.group.endswith("_1")]
    assert len(free) == 2 * 5 and stats["fundamentals"]["free_play"] == 5
    for record in free:  # the device's "free play" piece: a repertoire, nothing in it matched
        assert "simulated" not in record.meta and record.meta["piece"] is None
        assert HEADINGS[record.language]["free"] in record.messages[1]["content"]


def test_a_share_of_the_records_is_an_input_without_pedal_and_its_answer_leaves_the_pedal_alone(built):
    from pianocoach.feedback.aspects import tag_aspects

    _, records = built
    without = [r for r in records if r.meta.get("pedal") == "unknown"]
    with_pedal = [r for r in records if "pedal" not in r.meta]
    # every 4th take without a twin with mistakes, English and Chinese
    assert len(without) >= 4 and len(without) % 2 == 0 and {r.language for r in without} == {"en", "zh"}
    assert not any("simulated" in r.meta for r in without)
    for record in without:
        prompt, answer = record.messages[1]["content"], record.messages[2]["content"]
        assert HEADINGS[record.language]["unknown"] in prompt  # the pedal measures said to be unknown
        assert "pedal clarity" not in prompt and "pedal amount" not in prompt  # no pedal scale values
        assert "pedal" not in tag_aspects(answer)
    assert all("pedal clarity" in r.messages[1]["content"] for r in with_pedal if r.language == "en")
