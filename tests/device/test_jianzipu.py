"""Jianzipu on the device: the knowledge data, the parser (valid, invalid, the 十 rule), pitches
worked by hand, the explanation and the CLI, and the reader's head vocabulary."""

import json
import re
import subprocess
import sys

import jsonschema
import numpy as np
import pytest

from pianocoach.jianzipu import JianzipuError, explain, load_knowledge, parse, pitch
from pianocoach.jianzipu.knowledge import KNOWLEDGE_PATH
from pianocoach.jianzipu.vocab import HEADS, character, labels, top_characters


def test_the_knowledge_data_follows_its_schema_and_holds_the_graph():
    schema = json.loads((KNOWLEDGE_PATH.parent / "knowledge.schema.json").read_text())
    jsonschema.validate(json.loads(KNOWLEDGE_PATH.read_text()), schema)
    k = load_knowledge()
    assert {c.name: c.abbreviation for c in k.of_kind("finger")}["大"] == "𠂇"
    assert k.find("technique", "抹").abbreviation == "木" and k.find("form", "散").abbreviation == "艹"
    assert k.related("挑", "outward_stroke_of") == ["right index finger"]
    assert k.related("抹", "inward_stroke_of") == ["right index finger"]
    assert k.related("吟", "requires") == ["stopped"]
    assert [str(p) for p in k.hui_positions()] == [
        "1/8",
        "1/6",
        "1/5",
        "1/4",
        "1/3",
        "2/5",
        "1/2",
        "3/5",
        "2/3",
        "3/4",
        "4/5",
        "5/6",
        "7/8",
    ]


@pytest.mark.parametrize(
    "text, form, finger, hui, technique, string, ornaments",
    [
        ("中七六挑五", "stopped", "中", 7.6, "挑", 5, ()),
        ("散勾三", "open", None, None, "勾", 3, ()),
        ("泛名九挑七", "harmonic", "名", 9.0, "挑", 7, ()),
        ("大九勾四吟", "stopped", "大", 9.0, "勾", 4, ("吟",)),
        ("名八半剔二", "stopped", "名", 8.5, "剔", 2, ()),
        ("食 十八 抹六", "stopped", "食", 10.8, "抹", 6, ()),
    ],
)
def test_valid_characters_parse_into_their_parts(text, form, finger, hui, technique, string, ornaments):
    c = parse(text)
    assert (c.form, c.finger, c.hui, c.technique, c.string, c.ornaments) == (
        form,
        finger,
        hui,
        technique,
        string,
        ornaments,
    )


@pytest.mark.parametrize(
    "written, hui",
    [
        ("十", 10.0),
        ("十一", 11.0),
        ("十二", 12.0),
        ("十三", 13.0),
        ("十八", 10.8),
        ("十四", 10.4),
        ("十一二", 11.2),
        ("十三半", 13.5),
        ("七", 7.0),
        ("九半", 9.5),
    ],
)
def test_the_ten_rule(written, hui):
    assert parse(f"中{written}挑五").hui == hui


@pytest.mark.parametrize(
    "text, reason",
    [
        ("中七六挑八", "string 八 does not exist"),
        ("散中七挑五", "an open string (散) takes no left-hand finger or hui"),
        ("中挑五", "needs a hui position"),
        ("中七六", "no right-hand technique"),
        ("七挑五", "starts with a left-hand finger"),
        ("中七六挑", "must be followed by a string number"),
        ("散勾三吟", "吟 needs a stopped note"),
        ("泛名七六挑七", "harmonics sound only at a hui"),
        ("中七六五挑五", "is not a hui position"),
        ("中七挑五x", "unknown component 'x' after the string number"),
        ("", "empty"),
    ],
)
def test_invalid_characters_are_rejected_with_a_reason(text, reason):
    with pytest.raises(JianzipuError, match=re.escape(reason)):
        parse(text)


@pytest.mark.parametrize(
    "text, hz, note",
    [
        ("散勾三", 87.307, "F2"),  # open 3rd string in standard tuning: F2
        ("大七抹一", 130.813, "C3"),  # hui 7 halves the string: an octave over C2
        ("大九勾四", 146.998, "D3"),  # hui 9 leaves 2/3: a fifth over G2 (98.0 Hz * 3/2)
        ("中七六挑五", 196.429, "G3"),  # 7.6: 1/2 + 0.6 (3/5 - 1/2) = 0.56 of the string; 110 / 0.56
        ("名十三挑七", 167.812, "E3"),  # hui 13 leaves 7/8: 146.83 * 8/7
        ("泛名九挑七", 440.496, "A4"),  # harmonic at 2/3: the third partial of D3
    ],
)
def test_pitches_worked_by_hand(text, hz, note):
    p = pitch(parse(text))
    assert p.frequency_hz == pytest.approx(hz, abs=0.01) and p.note == note


def test_explanation_in_both_languages():
    e = explain(parse("中七六挑五"))
    assert e["explanation_en"].startswith(
        "The left middle finger presses the 5th string at 6 tenths past the 7th hui (7.6)."
    )
    assert e["explanation_zh"].startswith("左手中指按五弦七徽六分。右手挑")
    assert e["note"] == "G3" and e["frequency_hz"] == pytest.approx(196.43)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pianocoach.cli", "jianzipu", *args], capture_output=True, text=True)


def test_explain_cli_json_fields_and_exit_codes():
    ok = run_cli("explain", "--json", "泛名九挑七")
    assert ok.returncode == 0
    data = json.loads(ok.stdout)
    assert {
        "form",
        "finger",
        "hui",
        "technique",
        "string",
        "note",
        "frequency_hz",
        "explanation_zh",
        "explanation_en",
    } <= set(data)
    assert (data["form"], data["hui"], data["string"], data["note"]) == ("harmonic", 9.0, 7, "A4")
    bad = run_cli("explain", "中七六挑八")
    assert bad.returncode == 2 and "string 八 does not exist" in bad.stderr


def test_head_vocabulary_round_trips_and_rejects_impossible_combinations():
    for text in ("中七六挑五", "散勾三", "泛名九挑七", "大十三半托一"):
        c = parse(text)
        back = character(labels(c))
        assert (back.form, back.finger, back.hui, back.technique, back.string) == (
            c.form,
            c.finger,
            c.hui,
            c.technique,
            c.string,
        )
    assert character({"form": 1, "finger": 2, "hui_whole": 0, "hui_tenth": 0, "technique": 0, "string": 0}) is None
    assert character({"form": 2, "finger": 2, "hui_whole": 7, "hui_tenth": 6, "technique": 0, "string": 0}) is None


def test_top_characters_combine_head_probabilities_into_valid_characters():
    target = labels(parse("中七六挑五"))
    probabilities = {}
    for name, classes in HEADS.items():
        p = np.full(len(classes), 0.1 / (len(classes) - 1))
        p[target[name]] = 0.9
        probabilities[name] = p
    probabilities["form"] = np.array([0.55, 0.45, 0.0])  # open is likely too, but open + finger is invalid
    top = top_characters(probabilities, k=5)
    assert top[0].character.text == "中七六挑五" and len(top) == 5
    assert all(c.character.form != "open" or c.character.finger is None for c in top)
    assert top[0].probability > top[1].probability and top[0].probability == pytest.approx(0.9**5 * 0.55)
