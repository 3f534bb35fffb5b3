"""Parse a written jianzipu character (the long form, e.g. 中七六挑五) into its parts.

Grammar, in writing order::

    character := [散 | 泛] [finger hui] technique string ornament*
    hui       := whole [tenth | 半]       whole := 十一 | 十二 | 十三 | 十 | 一 .. 九

散 (open string) takes no finger and no hui; a stopped note (no marker) and a harmonic (泛) need both.
十一, 十二 and 十三 are whole hui; 十 followed by another digit is 10.x (十八 = 10.8). 七六 = 7.6 (six
tenths of the way from the 7th to the 8th hui), 八半 = 8.5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pianocoach.errors import PianoCoachError
from pianocoach.jianzipu.knowledge import Knowledge, load_knowledge

DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
FORM_MARKERS = {"散": "open", "泛": "harmonic"}


class JianzipuError(PianoCoachError):
    """A written character that is not a valid jianzipu character; the message says why."""

    def __init__(self, text: str, reason: str) -> None:
        self.text, self.reason = text, reason
        super().__init__(f"{text}: {reason}")


@dataclass(frozen=True)
class Character:
    form: str  # "stopped", "open" or "harmonic"
    finger: str | None  # 大 食 中 名 跪, None for an open string
    hui: float | None  # 7.6 for 七六; None for an open string
    hui_text: str | None  # as written, e.g. 七六
    technique: str  # 抹 挑 勾 剔 打 摘 擘 托
    string: int  # 1..7
    ornaments: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The canonical written form."""
        marker = {"open": "散", "harmonic": "泛"}.get(self.form, "")
        left = f"{self.finger}{self.hui_text}" if self.finger else ""
        return f"{marker}{left}{self.technique}{STRING_NAMES[self.string]}{''.join(self.ornaments)}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ornaments"] = list(self.ornaments)
        return data


STRING_NAMES = {v: k for k, v in DIGITS.items()}


def hui_text(hui: float) -> str:
    """7.6 -> 七六, 11.0 -> 十一, 10.8 -> 十八, 8.5 -> 八半."""
    whole = int(hui)
    tenth = int(round((hui - whole) * 10))
    whole_text = {10: "十", 11: "十一", 12: "十二", 13: "十三"}.get(whole) or STRING_NAMES[whole]
    return whole_text + ("半" if tenth == 5 else STRING_NAMES[tenth] if tenth else "")


def parse_hui(text: str, source: str | None = None) -> float:
    """The hui number a written position stands for."""
    source = source or text
    if not text:
        raise JianzipuError(source, "a stopped note or harmonic needs a hui position after the finger")
    if text[:2] in ("十一", "十二", "十三"):
        whole, rest = 10 + DIGITS[text[1]], text[2:]
    elif text[0] == "十":
        whole, rest = 10, text[1:]
    elif text[0] in DIGITS:
        whole, rest = DIGITS[text[0]], text[1:]
    else:
        raise JianzipuError(source, f"{text[0]!r} is not a hui numeral")
    if not rest:
        return float(whole)
    if rest == "半":
        return whole + 0.5
    if len(rest) == 1 and rest in DIGITS:
        return whole + DIGITS[rest] / 10
    raise JianzipuError(source, f"{text!r} is not a hui position (a whole hui 一-十三, then at most one tenth or 半)")


def parse(text: str, knowledge: Knowledge | None = None) -> Character:
    knowledge = knowledge or load_knowledge()
    original = text
    text = "".join(text.split())
    if not text:
        raise JianzipuError(original, "empty")
    fingers = {c.name for c in knowledge.of_kind("finger")}
    techniques = {c.name for c in knowledge.of_kind("technique")}
    ornaments = {c.name for c in knowledge.of_kind("ornament")}
    form = FORM_MARKERS.get(text[0], "stopped")
    rest = text[1:] if text[0] in FORM_MARKERS else text
    position = next((i for i, ch in enumerate(rest) if ch in techniques), None)
    if position is None:
        unknown = [ch for ch in rest if ch not in fingers | set(DIGITS) | {"十", "半"} | ornaments]
        reason = f"unknown component {unknown[0]!r}" if unknown else "no right-hand technique (抹 挑 勾 剔 打 摘 擘 托)"
        raise JianzipuError(original, reason)
    left, technique, tail = rest[:position], rest[position], rest[position + 1 :]
    finger, hui, written_hui = None, None, None
    if form == "open":
        if left:
            raise JianzipuError(original, "an open string (散) takes no left-hand finger or hui")
    else:
        if not left or left[0] not in fingers:
            found = repr(left[0]) if left else "nothing"
            raise JianzipuError(
                original, f"a {form} note starts with a left-hand finger (大 食 中 名 跪), found {found}"
            )
        finger, written_hui = left[0], left[1:]
        hui = parse_hui(written_hui, original)
        if not 1 <= hui < 14:
            raise JianzipuError(original, f"hui {hui:g} is off the instrument (1 to 13.9)")
    if not tail or tail[0] not in DIGITS:
        raise JianzipuError(original, "the technique must be followed by a string number 一-七")
    string = DIGITS[tail[0]]
    if string > 7:
        raise JianzipuError(original, f"string {tail[0]} does not exist: a guqin has strings 一 to 七")
    marks = tuple(tail[1:])
    for mark in marks:
        if mark not in ornaments:
            raise JianzipuError(original, f"unknown component {mark!r} after the string number")
        if form != "stopped" and "stopped" in knowledge.related(mark, "requires"):
            raise JianzipuError(
                original,
                f"{mark} needs a stopped note; an {'open string' if form == 'open' else 'harmonic'} cannot take it",
            )
    if form == "harmonic" and hui is not None and hui != int(hui):
        raise JianzipuError(original, f"harmonics sound only at a hui, not at {written_hui} ({hui:g})")
    return Character(form, finger, hui, written_hui or None, technique, string, marks)
