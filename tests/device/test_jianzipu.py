"""Jianzipu on the device: the knowledge data, the parser (valid, invalid, the 十 rule, the parts printed
handbook characters use, the long form's round trip), pitches worked by hand, the explanation and the CLI.
The reader's head vocabulary is tested with the reader (tests/device/test_jianzipu_reader.py)."""

import json
import random
import re
import subprocess
import sys

import jsonschema
import pytest

from pianocoach.jianzipu import Character, JianzipuError, explain, load_knowledge, parse, pitch
from pianocoach.jianzipu.knowledge import KNOWLEDGE_PATH, KnowledgeError
from pianocoach.jianzipu.parser import hui_text, mark_order


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
        ("泛中挑五", "a harmonic (泛) needs a hui position"),
        ("中七六", "no right-hand technique"),
        ("散名十勾四", "an open string (散) takes no left-hand finger or hui"),
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


# --- the parts real printed characters use (五声琴谱): unmarked, unwritten finger, 徽外, prefix strokes, 间,
# characters without a right-hand stroke or a string, and the new techniques and marks ---

CANONICAL_MARKS = ("绰", "注", "上", "下", "撞", "掩", "就", "间", "吟", "猱", "对起", "对按")


def test_marks_have_one_canonical_order_and_the_new_components_are_in_the_knowledge():
    k = load_knowledge()
    assert mark_order() == CANONICAL_MARKS
    techniques = {c.name for c in k.of_kind("technique")}
    assert {"历", "轮", "滚", "拂", "蠲", "锁", "长锁", "撮", "双弹", "拨剌", "擘", "托", "抹", "挑"} <= techniques
    assert all(c.get("layout") in ("enclosing", "above") and c.get("strings") for c in k.of_kind("technique"))
    assert k.find("technique", "历").abbreviation == "厂" and k.find("technique", "轮").abbreviation == "仑"
    for mark in ("对起", "对按", "掩", "就", "吟", "猱", "绰", "注", "上", "下"):
        assert k.related(mark, "requires") == ["stopped"], mark
    assert {c.name for c in k.of_kind("ornament") if c.get("left_hand_sound")} == {"对起", "对按", "掩"}
    assert k.find("marker", "间") is not None and k.find("hui_region", "徽外").get("after_hui") == 13
    assert k.find("form", "未标").get("id") == "unmarked"
    assert k.related("滚", "paired_with") == ["拂"] and k.related("对起", "paired_with") == ["对按"]
    new = "历 轮 滚 拂 蠲 锁 长锁 撮 双弹 拨剌 撞 掩 就 对起 对按 间 徽外 未标".split()
    for c in k.components:  # a full character or a phonetic part standing in for a shorthand glyph says so
        if c.name in new and c.kind != "hui_fraction":
            assert c.get("abbreviation_note") or c.abbreviation == "厂", c.name


def test_the_loader_checks_the_hui_region(tmp_path):
    data = json.loads(KNOWLEDGE_PATH.read_text())
    region = next(c for c in data["components"] if c["kind"] == "hui_region")
    del region["after_hui"]
    path = tmp_path / "knowledge.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    with pytest.raises(KnowledgeError, match="after_hui"):
        load_knowledge(path)
    schema = json.loads((KNOWLEDGE_PATH.parent / "knowledge.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


@pytest.mark.parametrize(
    "text, form, finger, hui, hui_text, technique, string, ornaments, prefix",
    [
        ("勾四", "unmarked", None, None, None, "勾", 4, (), None),
        ("七六挑五", "stopped", None, 7.6, "七六", "挑", 5, (), None),
        ("抹挑七", "unmarked", None, None, None, "挑", 7, (), "抹"),
        ("散抹挑七", "open", None, None, None, "挑", 7, (), "抹"),
        ("勾间勾四", "unmarked", None, None, None, "勾", 4, ("间",), "勾"),
        ("大九勾间勾四", "stopped", "大", 9.0, "九", "勾", 4, ("间",), "勾"),
        ("名十对起", "stopped", "名", 10.0, "十", None, None, ("对起",), None),
        ("名十对按", "stopped", "名", 10.0, "十", None, None, ("对按",), None),
        ("名徽外勾五", "stopped", "名", None, "外", "勾", 5, (), None),
        ("名外勾五", "stopped", "名", None, "外", "勾", 5, (), None),
        ("徽外挑五", "stopped", None, None, "外", "挑", 5, (), None),
        ("大九注挑四", "stopped", "大", 9.0, "九", "挑", 4, ("注",), None),
        ("大九挑四注", "stopped", "大", 9.0, "九", "挑", 4, ("注",), None),
        ("中九绰注打一", "stopped", "中", 9.0, "九", "打", 1, ("绰", "注"), None),
        ("双弹勾三", "unmarked", None, None, None, "勾", 3, (), "双弹"),
        ("历七", "unmarked", None, None, None, "历", 7, (), None),
        ("散轮四", "open", None, None, None, "轮", 4, (), None),
        ("名十滚", "stopped", "名", 10.0, "十", "滚", None, (), None),
        ("散拂一", "open", None, None, None, "拂", 1, (), None),
        ("大七长锁六", "stopped", "大", 7.0, "七", "长锁", 6, (), None),
        ("散拨剌五", "open", None, None, None, "拨剌", 5, (), None),
        ("大九挑四吟上", "stopped", "大", 9.0, "九", "挑", 4, ("上", "吟"), None),
        ("名十挑七掩", "stopped", "名", 10.0, "十", "挑", 7, ("掩",), None),
        ("大九掩", "stopped", "大", 9.0, "九", None, None, ("掩",), None),
        ("勾四吟", "unmarked", None, None, None, "勾", 4, ("吟",), None),
        ("泛九挑七", "harmonic", None, 9.0, "九", "挑", 7, (), None),
        # as 五声琴谱 prints them: 间 without a prefix, a finger whose place carries over, 掩 on a written string
        ("间勾四", "unmarked", None, None, None, "勾", 4, ("间",), None),
        ("名绰勾二", "stopped", "名", None, None, "勾", 2, ("绰",), None),
        ("大九掩五", "stopped", "大", 9.0, "九", None, 5, ("掩",), None),
    ],
)
def test_printed_characters_parse_into_their_parts(
    text, form, finger, hui, hui_text, technique, string, ornaments, prefix
):
    c = parse(text)
    assert (c.form, c.finger, c.hui, c.hui_text, c.technique, c.string, c.ornaments, c.prefix) == (
        form,
        finger,
        hui,
        hui_text,
        technique,
        string,
        ornaments,
        prefix,
    )
    assert parse(c.text) == c


def test_canonical_long_forms():
    assert parse("大九挑四注").text == "大九注挑四"
    assert parse("名外勾五").text == "名徽外勾五"
    assert parse("大九挑四吟上").text == "大九上挑四吟"
    assert parse(" 中 九 勾 间 勾 四 ").text == "中九勾间勾四"
    assert parse("名十对起").text == "名十对起"
    assert Character("stopped", "中", 7.6, "七六", "挑", 5, ()).text == "中七六挑五"  # the old constructor


@pytest.mark.parametrize(
    "text, reason",
    [
        ("散名十勾四", "an open string (散) takes no left-hand finger or hui"),
        ("散勾四对起", "对起 needs a stopped note; an open string cannot take it"),
        ("散对起", "对起 needs a stopped note"),
        ("泛名九对按", "对按 needs a stopped note; an harmonic cannot take it"),
        ("中七六挑八", "string 八 does not exist"),
        ("名十", "no right-hand technique"),
        ("名十吟", "no right-hand technique"),
        ("名十对起四", "'四' is out of place"),
        ("勾间四", "间 stands between two right-hand strokes"),
        ("间间勾四", "间 stands between two right-hand strokes"),
        ("抹挑勾四", "at most two right-hand strokes"),
        ("大九吟挑四吟", "吟 is written twice"),
        ("泛名徽外挑七", "harmonics sound only at a hui, not beyond the hui"),
        ("泛挑七", "a harmonic (泛) needs a hui position"),
        ("勾间勾间勾四", "间 stands between two right-hand strokes"),
        ("挑", "must be followed by a string number"),
        ("散十四", "an open string (散) takes no left-hand finger or hui"),
        ("中七挑五勾", "'勾' is out of place after the string number"),
        ("对挑五", "unknown component '对'"),
    ],
)
def test_invalid_printed_characters_are_rejected_with_a_reason(text, reason):
    with pytest.raises(JianzipuError, match=re.escape(reason)):
        parse(text)


def generated_characters(count: int, seed: int = 21) -> list[Character]:
    """Valid characters by the grammar's rules, built independently of the parser."""
    k = load_knowledge()
    rng = random.Random(seed)
    fingers = [c.name for c in k.of_kind("finger")]
    techniques = [c.name for c in k.of_kind("technique")]
    string_optional = {c.name for c in k.of_kind("technique") if c.get("string_optional")}
    left_marks = [c.name for c in k.of_kind("ornament")]
    sounding = [c.name for c in k.of_kind("ornament") if c.get("left_hand_sound")]
    found = []
    while len(found) < count:
        form = rng.choice(["stopped", "open", "harmonic", "unmarked"])
        finger, hui, written = None, None, None
        if form in ("stopped", "harmonic"):
            finger = rng.choice(fingers + [None])
            if form == "stopped" and rng.random() < 0.1:
                written = "外"
            else:
                whole = rng.randint(1, 13)
                tenth = 0 if form == "harmonic" or rng.random() < 0.4 else rng.randint(1, 9)
                if whole == 10 and tenth in (1, 2, 3):  # 十一 十二 十三 are whole hui: 10.1-10.3 have no long form
                    tenth = 0
                hui = whole + tenth / 10
                written = hui_text(hui)
                if tenth == 5 and rng.random() < 0.3:
                    written = hui_text(float(whole)) + "五"
        marks = set(rng.sample(left_marks, rng.choice([0, 0, 1, 2, 3]))) if form in ("stopped", "unmarked") else set()
        technique = rng.choice(techniques + [None, None])
        if technique is None and not marks & set(sounding):
            if form in ("stopped", "unmarked") and rng.random() < 0.5:
                marks.add(rng.choice(sounding))
            else:
                technique = rng.choice(techniques)
        prefix = None
        if technique is not None and rng.random() < 0.3:
            prefix = rng.choice(techniques)
            if rng.random() < 0.4:
                marks.add("间")
        string = None
        if technique is not None and not (technique in string_optional and rng.random() < 0.5):
            string = rng.randint(1, 7)
        ornaments = tuple(m for m in CANONICAL_MARKS if m in marks)
        found.append(Character(form, finger, hui, written, technique, string, ornaments, prefix))
    return found


def test_every_generated_character_round_trips_through_its_long_form():
    characters = generated_characters(3000)
    assert {c.form for c in characters} == {"stopped", "open", "harmonic", "unmarked"}
    assert any(c.prefix for c in characters) and any(c.technique is None for c in characters)
    assert any(c.hui_text == "外" for c in characters) and any(c.string is None for c in characters)
    for c in characters:
        assert parse(c.text) == c, c.text


def test_every_stroke_pair_round_trips():
    k = load_knowledge()
    techniques = [c.name for c in k.of_kind("technique")]
    for prefix in [None, *techniques]:
        for technique in techniques:
            for gap in ((), ("间",)) if prefix else ((),):
                c = Character("stopped", "中", 7.6, "七六", technique, 5, gap, prefix)
                assert parse(c.text) == c, c.text


@pytest.mark.parametrize("technique", [c.name for c in load_knowledge().of_kind("technique")])
def test_explain_covers_every_technique_alone_and_as_a_prefix(technique):
    k = load_knowledge()
    stroke = k.find("technique", technique)
    e = explain(parse(f"中九{technique}四"))
    assert e["technique"] == technique and e["prefix"] is None and e["note"] == "D3"
    assert f"右手{technique}：{stroke.explanation_zh}" in e["explanation_zh"]
    assert stroke.explanation_en[1:] in e["explanation_en"]
    assert f"plays {technique} ({stroke.reading})" in e["explanation_en"]
    several = stroke.get("strings") != "one"
    assert ("sounds other strings too" in e["explanation_en"]) == several
    assert ("还会弹到其他弦" in e["explanation_zh"]) == several
    e = explain(parse(f"散{technique}挑七"))
    assert e["prefix"] == technique and e["note"] == "D3"
    assert "first, then 挑 (tiāo) on the 7th string" in e["explanation_en"]
    assert f"右手先{technique}，再挑七弦。{technique}：{stroke.explanation_zh}" in e["explanation_zh"]


@pytest.mark.parametrize("mark", [c.name for c in load_knowledge().of_kind("ornament")])
def test_explain_covers_every_mark(mark):
    ornament = load_knowledge().find("ornament", mark)
    e = explain(parse(f"名十挑七{mark}"))
    assert e["ornaments"] == [mark] and e["note"] is not None
    assert ornament.explanation_zh in e["explanation_zh"]
    assert f"{mark} ({ornament.reading}, {ornament.english}): {ornament.explanation_en}" in e["explanation_en"]


def test_explain_the_new_cases_in_both_languages():
    keys = {
        "form",
        "finger",
        "hui",
        "technique",
        "prefix",
        "string",
        "ornaments",
        "written",
        "tuning",
        "note",
        "cents",
        "frequency_hz",
        "explanation_zh",
        "explanation_en",
    }
    unmarked = explain(parse("勾四"))
    assert set(unmarked) == keys and unmarked["note"] == "G2"  # the open string's pitch, if open
    assert unmarked["explanation_en"].startswith("Nothing is written for the left hand: the 4th string sounds open")
    assert "unless the left hand keeps its place" in unmarked["explanation_en"]
    assert "If the string is open, in standard tuning it sounds G2" in unmarked["explanation_en"]
    assert unmarked["explanation_zh"].startswith("左手未写指和徽位：四弦为散音")
    assert "若为散音" in unmarked["explanation_zh"]

    no_finger = explain(parse("七六挑五"))
    assert no_finger["explanation_en"].startswith("The left-hand finger of the previous note (no finger is written)")
    assert no_finger["explanation_zh"].startswith("左手前一音的手指（未写指名）按五弦七徽六分")
    assert no_finger["note"] == "G3"

    beyond = explain(parse("名徽外勾五"))
    assert set(beyond) == keys and (beyond["note"], beyond["cents"], beyond["frequency_hz"]) == (None, None, None)
    assert "beyond the 13th hui" in beyond["explanation_en"] and "The pitch is not fixed" in beyond["explanation_en"]
    assert "徽外" in beyond["explanation_zh"] and "音高不定" in beyond["explanation_zh"]

    left_only = explain(parse("名十对起"))
    assert left_only["technique"] is None and left_only["string"] is None and left_only["note"] is None
    assert "No right-hand stroke is written: the left hand alone makes the sound." in left_only["explanation_en"]
    assert "No string is written" in left_only["explanation_en"]
    assert "未写右手指法：由左手单独发声。" in left_only["explanation_zh"] and "未写弦" in left_only["explanation_zh"]

    prefix = explain(parse("抹挑七"))
    assert prefix["prefix"] == "抹"
    assert "The right hand plays 抹 (mǒ) first, then 挑 (tiāo) on the 7th string." in prefix["explanation_en"]
    assert "右手先抹，再挑七弦。" in prefix["explanation_zh"]

    gap = explain(parse("大九勾间勾四"))
    assert gap["ornaments"] == ["间"]
    assert "skipping the one between them (间), then 勾 on the 4th string" in gap["explanation_en"]
    assert "右手先勾一弦，隔过一弦（间），再勾四弦。" in gap["explanation_zh"] and gap["note"] == "D3"

    kept = explain(parse("勾四吟"))  # 吟 needs a finger on the string: the left hand keeps its place
    assert kept["note"] is None and "keeps its place from the previous note" in kept["explanation_en"]
    assert "左手位置沿用前一音" in kept["explanation_zh"]

    sweep = explain(parse("名十滚"))
    assert sweep["note"] is None and "No string is written for 滚" in sweep["explanation_en"]


def test_pitch_is_none_where_the_notation_does_not_fix_it():
    assert pitch(parse("名徽外勾五")) is None
    assert pitch(parse("名十对起")) is None
    assert pitch(parse("勾四吟")) is None
    assert pitch(parse("勾四")).note == "G2" and pitch(parse("散勾四")).note == "G2"
    assert pitch(parse("七六挑五")).note == pitch(parse("中七六挑五")).note == "G3"


def test_a_finger_without_a_written_place_keeps_the_previous_place_and_fixes_no_pitch():
    result = explain(parse("名绰勾二"))
    assert result["note"] is None and result["frequency_hz"] is None
    assert "place of the previous note" in result["explanation_en"] and "徽外" not in result["explanation_en"]
    assert "前一音的徽位" in result["explanation_zh"]


def test_jian_without_a_prefix_is_explained():
    result = explain(parse("间勾四"))
    assert "间" in result["explanation_en"] and "间" in result["explanation_zh"]
    assert result["note"] == "G2"  # as an open string, the condition said
