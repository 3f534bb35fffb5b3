"""Explain a parsed character in Chinese and English: which finger stops which string where (or that
nothing is written for the left hand), the right-hand stroke (a prefix stroke first, 间), the marks, and
the pitch in a tuning (None where the notation does not fix it, with the reason)."""

from __future__ import annotations

from pianocoach.jianzipu.knowledge import Component, Knowledge, load_knowledge
from pianocoach.jianzipu.parser import GAP, STRING_NAMES, Character, hui_text, keeps_place
from pianocoach.jianzipu.pitch import Pitch, pitch

ORDINAL = {1: "1st", 2: "2nd", 3: "3rd"}
FINGERS_ZH = {"大": "大指", "食": "食指", "中": "中指", "名": "名指", "跪": "跪指"}


def ordinal(n: int) -> str:
    return ORDINAL.get(n, f"{n}th")


def explain(character: Character, tuning: str = "standard", knowledge: Knowledge | None = None) -> dict:
    """The JSON ``explain`` prints: the parts, the pitch (``note``, ``cents`` and ``frequency_hz`` are None
    where the notation fixes no pitch) and the explanation in both languages."""
    knowledge = knowledge or load_knowledge()
    sound = pitch(character, tuning, knowledge)
    return {
        "form": character.form,
        "finger": character.finger,
        "hui": character.hui,
        "technique": character.technique,
        "prefix": character.prefix,
        "string": character.string,
        "ornaments": list(character.ornaments),
        "written": character.text,
        "tuning": tuning,
        "note": sound.note if sound else None,
        "cents": sound.cents if sound else None,
        "frequency_hz": round(sound.frequency_hz, 2) if sound else None,
        "explanation_zh": _zh(character, sound, tuning, knowledge),
        "explanation_en": _en(character, sound, tuning, knowledge),
    }


def _component(k: Knowledge, kind: str, name: str) -> Component:
    """A component the parser has already checked is in the knowledge data."""
    found = k.find(kind, name)
    if found is None:
        raise ValueError(f"the jianzipu knowledge has no {kind} {name!r}")
    return found


def _mark(k: Knowledge, name: str) -> Component:
    """An ornament, or the marker 间."""
    return k.find("ornament", name) or _component(k, "marker", name)


def _left_marks(c: Character) -> list[str]:
    return [m for m in c.ornaments if m != GAP]


def _several_strings(c: Character, k: Knowledge) -> bool:
    return c.technique is not None and _component(k, "technique", c.technique).get("strings", "one") != "one"


def _hui_words_en(hui: float | None, written: str | None = "外") -> str:
    if hui is None and not written:
        return "the place of the previous note (no hui is written)"
    if hui is None:
        return "a place beyond the 13th hui (徽外, between the 13th hui and the nut)"
    whole, tenth = int(hui), int(round((hui - int(hui)) * 10))
    if not tenth:
        return f"the {ordinal(whole)} hui"
    if tenth == 5:
        return f"halfway between the {ordinal(whole)} and {ordinal(whole + 1)} hui ({hui:g})"
    return f"{tenth} tenths past the {ordinal(whole)} hui ({hui:g})"


def _hui_words_zh(hui: float | None, written: str | None = "外") -> str:
    if hui is None and not written:
        return "前一音的徽位（未写徽位）"
    if hui is None:
        return "徽外（十三徽以外）"
    whole, tenth = int(hui), int(round((hui - int(hui)) * 10))
    whole_text = hui_text(float(whole))
    return f"{whole_text}徽" + ("半" if tenth == 5 else f"{STRING_NAMES[tenth]}分" if tenth else "")


def _no_pitch_en(c: Character, k: Knowledge) -> str:
    if c.string is None and _several_strings(c, k):
        return f"No string is written for {c.technique}, so no single pitch is given."
    if c.string is None:
        return "No string is written (it is the string of the previous note), so the pitch is not fixed here."
    if keeps_place(c, k) or (c.form == "stopped" and not c.hui_text):
        return "The left hand's place comes from the previous note, so the pitch is not fixed here."
    return "The pitch is not fixed: 徽外 has no exact place; the player finds it by ear."


def _no_pitch_zh(c: Character, k: Knowledge) -> str:
    if c.string is None and _several_strings(c, k):
        return f"{c.technique}未写弦，不给出单一音高。"
    if c.string is None:
        return "未写弦（沿用前一音的弦），此处音高不定。"
    if keeps_place(c, k) or (c.form == "stopped" and not c.hui_text):
        return "左手位置沿用前一音，此处音高不定。"
    return "徽外没有确定的位置，由听觉决定，音高不定。"


def _string_en(c: Character, k: Knowledge) -> str:
    if c.string is not None:
        return f"the {ordinal(c.string)} string"
    if _several_strings(c, k):
        return "the strings it sweeps (not written)"
    return "the string of the previous note (no string is written)"


def _string_zh(c: Character, k: Knowledge) -> str:
    if c.string is not None:
        return f"{STRING_NAMES[c.string]}弦"
    return "所弹各弦（未写弦）" if _several_strings(c, k) else "前一音所在的弦（未写弦）"


def _en(c: Character, sound: Pitch | None, tuning: str, k: Knowledge) -> str:
    string = _string_en(c, k)
    marks = _left_marks(c)
    if c.form == "open":
        left = f"Open string (散音): the left hand does not touch {string}."
    elif c.form == "unmarked":
        if keeps_place(c, k):
            needing = " and ".join(marks)
            left = (
                f"Nothing is written for the left hand; {needing} {'needs' if len(marks) == 1 else 'need'} "
                "a finger on the string, "
                f"so the left hand keeps its place from the previous note on {string}."
            )
        else:
            left = (
                f"Nothing is written for the left hand: {string} sounds open, "
                "unless the left hand keeps its place from the previous note."
            )
    else:
        finger = (
            f"The {_component(k, 'finger', c.finger).english}"
            if c.finger
            else "The left-hand finger of the previous note (no finger is written)"
        )
        verb = "touches lightly" if c.form == "harmonic" else "presses"
        left = f"{finger} {verb} {string} at {_hui_words_en(c.hui, c.hui_text)}" + (
            " (a harmonic, 泛音)." if c.form == "harmonic" else "."
        )
    parts = [left, *_right_en(c, string, k)]
    for mark in marks:
        ornament = _mark(k, mark)
        parts.append(f"{mark} ({ornament.reading}, {ornament.english}): {ornament.explanation_en}")
    tuning_name = k.tunings[tuning]["name_en"]
    if sound is None:
        parts.append(_no_pitch_en(c, k))
    elif c.form == "unmarked":
        parts.append(f"If the string is open, in {tuning_name} it sounds {sound.describe()}.")
    else:
        parts.append(f"In {tuning_name} it sounds {sound.describe()}.")
    if sound is not None and _several_strings(c, k):
        parts.append(f"That is the note of {string}; {c.technique} sounds other strings too.")
    return " ".join(parts)


def _right_en(c: Character, string: str, k: Knowledge) -> list[str]:
    if c.technique is None:
        return ["No right-hand stroke is written: the left hand alone makes the sound."]
    stroke = _component(k, "technique", c.technique)
    if c.prefix is None:
        played = [
            f"The right hand plays {c.technique} ({stroke.reading}): "
            f"{stroke.explanation_en[0].lower()}{stroke.explanation_en[1:]}"
        ]
        if GAP in c.ornaments:  # 间勾四: 间 without a prefix
            gap = _mark(k, GAP)
            played.append(f"{GAP} ({gap.reading}, {gap.english}): {gap.explanation_en}")
        return played
    first = _component(k, "technique", c.prefix)
    if GAP in c.ornaments:
        where = (
            f"a string two away from {string}, skipping the one between them (间)"
            if c.string
            else "another string, skipping the one between them (间)"
        )
        order = f"The right hand plays {c.prefix} ({first.reading}) on {where}, then {c.technique} on {string}."
    else:
        order = (
            f"The right hand plays {c.prefix} ({first.reading}) first, "
            f"then {c.technique} ({stroke.reading}) on {string}."
        )
    parts = [order, f"{c.prefix}: {first.explanation_en}"]
    if c.technique != c.prefix:
        parts.append(f"{c.technique}: {stroke.explanation_en}")
    return parts


def _zh(c: Character, sound: Pitch | None, tuning: str, k: Knowledge) -> str:
    string = _string_zh(c, k)
    marks = _left_marks(c)
    if c.form == "open":
        left = f"散音：左手不按{string}。"
    elif c.form == "unmarked":
        if keeps_place(c, k):
            left = f"左手未写指和徽位；{'、'.join(marks)}须有手指按弦，故左手留在前一音的位置，弹{string}。"
        else:
            left = f"左手未写指和徽位：{string}为散音（空弦），除非左手留在前一音的位置不动。"
    else:
        finger = FINGERS_ZH[c.finger] if c.finger else "前一音的手指（未写指名）"
        verb = "轻点" if c.form == "harmonic" else "按"
        left = f"左手{finger}{verb}{string}{_hui_words_zh(c.hui, c.hui_text)}" + (
            "（泛音）。" if c.form == "harmonic" else "。"
        )
    parts = [left, *_right_zh(c, string, k)]
    for mark in marks:
        parts.append(_mark(k, mark).explanation_zh)
    tuning_name = k.tunings[tuning]["name_zh"]
    if sound is None:
        parts.append(_no_pitch_zh(c, k))
    else:
        condition = "若为散音，" if c.form == "unmarked" else ""
        parts.append(f"{condition}{tuning_name}下音高为 {sound.note}（{sound.frequency_hz:.1f} Hz）。")
        if _several_strings(c, k):
            parts.append(f"此为{string}的音，{c.technique}还会弹到其他弦。")
    return "".join(parts)


def _right_zh(c: Character, string: str, k: Knowledge) -> list[str]:
    if c.technique is None:
        return ["未写右手指法：由左手单独发声。"]
    stroke = _component(k, "technique", c.technique)
    if c.prefix is None:
        played = [f"右手{c.technique}：{stroke.explanation_zh}"]
        if GAP in c.ornaments:  # 间勾四: 间 without a prefix
            played.append(f"{GAP}：{_mark(k, GAP).explanation_zh}")
        return played
    first = _component(k, "technique", c.prefix)
    if GAP in c.ornaments:
        order = f"右手先{c.prefix}一弦，隔过一弦（间），再{c.technique}{string}。"
    else:
        order = f"右手先{c.prefix}，再{c.technique}{string}。"
    parts = [order, f"{c.prefix}：{first.explanation_zh}"]
    if c.technique != c.prefix:
        parts.append(f"{c.technique}：{stroke.explanation_zh}")
    return parts
