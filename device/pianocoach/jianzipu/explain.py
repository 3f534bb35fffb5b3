"""Explain a parsed character in Chinese and English: which finger stops which string where, which
right-hand stroke, ornaments, and the pitch in a tuning."""

from __future__ import annotations

from pianocoach.jianzipu.knowledge import Component, Knowledge, load_knowledge
from pianocoach.jianzipu.parser import STRING_NAMES, Character, hui_text
from pianocoach.jianzipu.pitch import Pitch, pitch

ORDINAL = {1: "1st", 2: "2nd", 3: "3rd"}


def ordinal(n: int) -> str:
    return ORDINAL.get(n, f"{n}th")


def explain(character: Character, tuning: str = "standard", knowledge: Knowledge | None = None) -> dict:
    """The JSON ``explain`` prints: the parts, the pitch, and the explanation in both languages."""
    knowledge = knowledge or load_knowledge()
    sound = pitch(character, tuning, knowledge)
    return {
        "form": character.form,
        "finger": character.finger,
        "hui": character.hui,
        "technique": character.technique,
        "string": character.string,
        "ornaments": list(character.ornaments),
        "written": character.text,
        "tuning": tuning,
        "note": sound.note,
        "cents": sound.cents,
        "frequency_hz": round(sound.frequency_hz, 2),
        "explanation_zh": _zh(character, sound, tuning, knowledge),
        "explanation_en": _en(character, sound, tuning, knowledge),
    }


def _component(k: Knowledge, kind: str, name: str) -> Component:
    """A component the parser has already checked is in the knowledge data."""
    found = k.find(kind, name)
    if found is None:
        raise ValueError(f"the jianzipu knowledge has no {kind} {name!r}")
    return found


def _hui_words_en(hui: float) -> str:
    whole, tenth = int(hui), int(round((hui - int(hui)) * 10))
    if not tenth:
        return f"the {ordinal(whole)} hui"
    if tenth == 5:
        return f"halfway between the {ordinal(whole)} and {ordinal(whole + 1)} hui ({hui:g})"
    return f"{tenth} tenths past the {ordinal(whole)} hui ({hui:g})"


def _hui_words_zh(hui: float) -> str:
    whole, tenth = int(hui), int(round((hui - int(hui)) * 10))
    whole_text = hui_text(float(whole))
    return f"{whole_text}徽" + ("半" if tenth == 5 else f"{STRING_NAMES[tenth]}分" if tenth else "")


def _en(c: Character, sound: Pitch, tuning: str, k: Knowledge) -> str:
    stroke = _component(k, "technique", c.technique)
    string = f"the {ordinal(c.string)} string"
    if c.form == "open":
        left = f"Open string ({c.technique} on {string}, 散音): the left hand does not touch it."
    else:
        assert c.finger is not None and c.hui is not None  # only an open string has neither
        finger = _component(k, "finger", c.finger).english
        verb = "touches lightly" if c.form == "harmonic" else "presses"
        left = f"The {finger} {verb} {string} at {_hui_words_en(c.hui)}" + (
            " (a harmonic, 泛音)." if c.form == "harmonic" else "."
        )
    right = (
        f"The right hand plays {c.technique} ({stroke.reading}): "
        f"{stroke.explanation_en[0].lower()}{stroke.explanation_en[1:]}"
    )
    parts = [left, right]
    for mark in c.ornaments:
        ornament = _component(k, "ornament", mark)
        parts.append(f"{mark} ({ornament.reading}, {ornament.english}): {ornament.explanation_en}")
    tuning_name = k.tunings[tuning]["name_en"]
    parts.append(f"In {tuning_name} it sounds {sound.describe()}.")
    return " ".join(parts)


def _zh(c: Character, sound: Pitch, tuning: str, k: Knowledge) -> str:
    stroke = _component(k, "technique", c.technique)
    string = f"{STRING_NAMES[c.string]}弦"
    if c.form == "open":
        left = f"散音：左手不按，右手{c.technique}{string}。"
    else:
        assert c.finger is not None and c.hui is not None  # only an open string has neither
        finger = {"大": "大指", "食": "食指", "中": "中指", "名": "名指", "跪": "跪指"}[c.finger]
        verb = "轻点" if c.form == "harmonic" else "按"
        left = f"左手{finger}{verb}{string}{_hui_words_zh(c.hui)}" + ("（泛音）。" if c.form == "harmonic" else "。")
    parts = [left, f"右手{c.technique}：{stroke.explanation_zh}"]
    for mark in c.ornaments:
        parts.append(_component(k, "ornament", mark).explanation_zh)
    parts.append(f"{k.tunings[tuning]['name_zh']}下音高为 {sound.note}（{sound.frequency_hz:.1f} Hz）。")
    return "".join(parts)
