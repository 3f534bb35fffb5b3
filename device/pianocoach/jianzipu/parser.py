"""Parse a written jianzipu character (the long form, e.g. 中七六挑五) into its parts.

Canonical long form (``Character.text``), in writing order::

    character := [散 | 泛] [finger] [position] before* [stroke] after*
    position  := hui | 徽外
    hui       := whole [tenth | 半]       whole := 十一 | 十二 | 十三 | 十 | 一 .. 九      tenth := 一 .. 九
    stroke    := [prefix] [间] technique [string]  |  string   (the latter after a left-hand sound: 掩五)
    prefix    := technique              (a stroke written above the main one and played first: 抹 of 抹挑七)
    finger    := 大 | 食 | 中 | 名 | 跪
    technique := 擘 | 托 | 抹 | 挑 | 勾 | 剔 | 打 | 摘 | 历 | 轮 | 滚 | 拂 | 蠲 | 锁 | 长锁 | 撮 | 双弹 | 拨剌
    string    := 一 .. 七
    before    := 绰 | 注 | 上 | 下 | 撞 | 掩 | 就          (knowledge placement "before_stroke")
    after     := 吟 | 猱 | 对起 | 对按                      (knowledge placement "after_string")

The marks (``Character.ornaments``) are kept in one canonical order, the order they are written in:
绰 注 上 下 撞 掩 就 间 吟 猱 对起 对按 (before-stroke marks, then 间, then after-string marks, each
group in the knowledge file's order; ``mark_order()``). 间 ("with a string between") is a marker, not an
ornament, but it lives in the same tuple; it stands before the technique, after a prefix if there is one
(勾间勾四, 间勾四).
Where a mark is written says nothing about when it is played (上 is written before the stroke and slides
after the pluck).

Forms: 散 (open) takes no finger and no position. 泛 (harmonic) needs a position at a whole hui. With no
marker, a written finger or position makes a stopped note; either may be left out (``finger`` None: the finger
of the previous note; ``hui`` None with a finger: the previous place, as 名绰勾二 in printed books). Nothing
written for the left hand is ``unmarked``: an open string, or the left hand keeps its place. 徽外 (also written
外) is the place beyond the 13th hui: ``hui`` None, ``hui_text`` "外". 十一, 十二 and 十三 are whole hui; 十
followed by another digit is 10.x (十八 = 10.8). 七六 = 7.6 (six tenths of the way from the 7th to the 8th hui),
八半 = 8.5.

Rules: the technique may be left out only when a mark sounds with the left hand alone (对起 对按 掩, knowledge
``left_hand_sound``); then a string is written only after a mark placed before the stroke (大九掩五), never
after 对起/对按 (名十四对起 would read as hui 10.4). The string may also be left out after a sweep (滚 拂,
knowledge ``string_optional``). Every left-hand mark needs a finger on the string: not with 散 or 泛; an
unmarked character may take one (the left hand then keeps its stopped place). Each mark is written at most
once; at most two strokes (a prefix and the technique).

Input is lenient: whitespace is ignored, 外 stands for 徽外, and a mark may be written before the stroke
or after the string wherever its canonical place is (大九挑四注 = 大九注挑四).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from pianocoach.errors import PianoCoachError
from pianocoach.jianzipu.knowledge import PLACEMENTS, Knowledge, load_knowledge

DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
NUMERALS = frozenset(DIGITS) | {"十", "半"}
FORM_MARKERS = {"散": "open", "泛": "harmonic"}
GAP = "间"  # the marker between a prefix and the technique


class JianzipuError(PianoCoachError):
    """A written character that is not a valid jianzipu character; the message says why."""

    def __init__(self, text: str, reason: str) -> None:
        self.text, self.reason = text, reason
        super().__init__(f"{text}: {reason}")


@dataclass(frozen=True)
class Character:
    form: str  # "stopped", "open", "harmonic" or "unmarked" (nothing written for the left hand)
    finger: str | None  # 大 食 中 名 跪; None for open/unmarked, or a stopped note whose finger is not written
    hui: float | None  # 7.6 for 七六; None for open/unmarked and for 徽外
    hui_text: str | None  # as written, e.g. 七六; "外" for 徽外
    technique: str | None  # None: no right-hand stroke (the left hand sounds the note, e.g. 名十对起)
    string: int | None  # 1..7; None when no string is written
    ornaments: tuple[str, ...] = ()  # marks in the canonical order (see the module docstring)
    prefix: str | None = None  # a stroke written above the main one and played first (抹 of 抹挑七)

    @property
    def text(self) -> str:
        """The canonical written long form."""
        vocab = _vocab(load_knowledge())
        marker = {"open": "散", "harmonic": "泛"}.get(self.form, "")
        position = vocab.region_names.get(self.hui_text or "", self.hui_text or "")
        before = "".join(m for m in self.ornaments if vocab.placement.get(m) == "before_stroke")
        gap = GAP if GAP in self.ornaments else ""
        after = "".join(
            m for m in self.ornaments if m != GAP and vocab.placement.get(m, "after_string") == "after_string"
        )
        string = STRING_NAMES[self.string] if self.string is not None else ""
        stroke = f"{self.prefix or ''}{gap}{self.technique or ''}{string}"
        return f"{marker}{self.finger or ''}{position}{before}{stroke}{after}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ornaments"] = list(self.ornaments)
        return data


STRING_NAMES = {v: k for k, v in DIGITS.items()}


@dataclass(frozen=True)
class Vocabulary:
    """What the parser reads, taken from the knowledge data."""

    fingers: frozenset[str]
    techniques: tuple[str, ...]  # longest first, so 长锁 is read before 锁
    marks: tuple[str, ...]  # ornaments, longest first
    regions: dict[str, str]  # written form (徽外, 外) -> hui_text (外)
    region_forms: tuple[str, ...]  # the keys of ``regions``, longest first
    region_names: dict[str, str]  # hui_text -> canonical written form (外 -> 徽外)
    placement: dict[str, str]  # mark -> before_stroke | between_strokes | after_string
    order: dict[str, int]  # mark -> rank in the canonical order
    needs_stop: frozenset[str]  # marks that need a finger on the string
    left_hand_sound: frozenset[str]  # marks that sound without the right hand
    string_optional: frozenset[str]  # techniques that may be written without a string

    @classmethod
    def of(cls, knowledge: Knowledge) -> Vocabulary:
        ornaments = knowledge.of_kind("ornament")
        gap = knowledge.find("marker", GAP)
        marks = list(ornaments) + ([gap] if gap else [])
        placement = {
            c.name: c.get("placement", "between_strokes" if c.kind == "marker" else "after_string") for c in marks
        }
        ranked = sorted(range(len(marks)), key=lambda i: (PLACEMENTS.index(placement[marks[i].name]), i))
        regions: dict[str, str] = {}
        for c in knowledge.of_kind("hui_region"):
            regions[c.name] = regions[c.abbreviation or c.name] = c.abbreviation or c.name
        return cls(
            fingers=frozenset(c.name for c in knowledge.of_kind("finger")),
            techniques=_longest_first(c.name for c in knowledge.of_kind("technique")),
            marks=_longest_first(c.name for c in ornaments),
            regions=regions,
            region_forms=_longest_first(regions),
            region_names={c.abbreviation or c.name: c.name for c in knowledge.of_kind("hui_region")},
            placement=placement,
            order={marks[i].name: rank for rank, i in enumerate(ranked)},
            needs_stop=frozenset(c.name for c in marks if "stopped" in knowledge.related(c.name, "requires")),
            left_hand_sound=frozenset(c.name for c in ornaments if c.get("left_hand_sound")),
            string_optional=frozenset(c.name for c in knowledge.of_kind("technique") if c.get("string_optional")),
        )


def _longest_first(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(names, key=len, reverse=True))


_VOCABULARIES: dict[int, tuple[Knowledge, Vocabulary]] = {}


def _vocab(knowledge: Knowledge) -> Vocabulary:
    cached = _VOCABULARIES.get(id(knowledge))
    if cached is None or cached[0] is not knowledge:
        cached = (knowledge, Vocabulary.of(knowledge))
        _VOCABULARIES[id(knowledge)] = cached
    return cached[1]


def mark_order(knowledge: Knowledge | None = None) -> tuple[str, ...]:
    """Every mark name (the ornaments and 间) in the canonical order."""
    order = _vocab(knowledge or load_knowledge()).order
    return tuple(sorted(order, key=order.__getitem__))


def keeps_place(character: Character, knowledge: Knowledge | None = None) -> bool:
    """An unmarked character with a mark that needs a finger on the string: the left hand keeps its
    (stopped) place from the previous note, so it cannot be an open string."""
    needs_stop = _vocab(knowledge or load_knowledge()).needs_stop
    return character.form == "unmarked" and any(m in needs_stop for m in character.ornaments)


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


def _match(text: str, i: int, names: tuple[str, ...]) -> str | None:
    """The longest of ``names`` written at ``text[i:]``."""
    return next((name for name in names if text.startswith(name, i)), None)


def _read_marks(text: str, i: int, vocab: Vocabulary, marks: list[str], source: str) -> int:
    while (mark := _match(text, i, vocab.marks)) is not None:
        if mark in marks:
            raise JianzipuError(source, f"{mark} is written twice")
        marks.append(mark)
        i += len(mark)
    return i


def parse(text: str, knowledge: Knowledge | None = None) -> Character:
    knowledge = knowledge or load_knowledge()
    vocab = _vocab(knowledge)
    original = text
    text = "".join(text.split())
    if not text:
        raise JianzipuError(original, "empty")
    i = 0
    marker = FORM_MARKERS.get(text[0])
    if marker:
        i = 1
    finger = None
    if i < len(text) and text[i] in vocab.fingers:
        finger, i = text[i], i + 1
    written_hui, hui = None, None
    region = _match(text, i, vocab.region_forms)
    if region is not None:
        written_hui, i = vocab.regions[region], i + len(region)
    else:
        start = i
        while i < len(text) and text[i] in NUMERALS:
            i += 1
        if i > start:
            written_hui = text[start:i]
            hui = parse_hui(written_hui, original)
            if not 1 <= hui < 14:
                raise JianzipuError(original, f"hui {hui:g} is off the instrument (1 to 13.9)")
    marks: list[str] = []
    i = _read_marks(text, i, vocab, marks, original)
    if text.startswith(GAP, i) and _match(text, i + 1, vocab.techniques) is not None:  # 间勾四: no prefix
        marks.append(GAP)
        i += 1
    prefix, technique = None, _match(text, i, vocab.techniques)
    if technique is not None:
        i += len(technique)
        gap = int(text.startswith(GAP, i))
        second = _match(text, i + gap, vocab.techniques)
        if gap and second is None:
            raise JianzipuError(
                original, f"{GAP} stands between two right-hand strokes (勾间勾四); no stroke follows it"
            )
        if second is not None:
            if GAP in marks:
                raise JianzipuError(original, f"{GAP} is written twice")
            prefix, technique = technique, second
            i += gap + len(second)
            if gap:
                marks.append(GAP)
            if _match(text, i, vocab.techniques) is not None:
                raise JianzipuError(original, "at most two right-hand strokes: a prefix and the main technique")
    string = None
    # the string follows the stroke, or a left-hand sound written before its place (大九掩五); after 对起/对按 no
    # string is written (名十四对起 would read as hui 10.4)
    sounded = technique is not None or bool(
        marks and marks[-1] in vocab.left_hand_sound and vocab.placement.get(marks[-1]) == "before_stroke"
    )
    if sounded and i < len(text) and text[i] in DIGITS:
        string = DIGITS[text[i]]
        if string > 7:
            raise JianzipuError(original, f"string {text[i]} does not exist: a guqin has strings 一 to 七")
        i += 1
    i = _read_marks(text, i, vocab, marks, original)
    if i < len(text):
        raise JianzipuError(original, _misplaced(text, i, vocab, technique, string))

    form = marker or ("stopped" if written_hui or finger else "unmarked")
    if form == "open" and (finger or written_hui):
        raise JianzipuError(original, "an open string (散) takes no left-hand finger or hui")
    if form == "harmonic":
        if not written_hui:
            raise JianzipuError(original, "a harmonic (泛) needs a hui position")
        if hui is None:
            raise JianzipuError(original, "harmonics sound only at a hui, not beyond the hui (徽外)")
        if hui != int(hui):
            raise JianzipuError(original, f"harmonics sound only at a hui, not at {written_hui} ({hui:g})")
    if technique is None and not any(m in vocab.left_hand_sound for m in marks):
        sounding = " ".join(sorted(vocab.left_hand_sound, key=vocab.order.__getitem__))
        raise JianzipuError(
            original, f"no right-hand technique (抹 挑 勾 剔 ...) and no mark that sounds without it ({sounding})"
        )
    if technique is not None and string is None and technique not in vocab.string_optional:
        raise JianzipuError(original, "the technique must be followed by a string number 一-七")
    for mark in marks:
        if form in ("open", "harmonic") and mark in vocab.needs_stop:
            raise JianzipuError(
                original,
                f"{mark} needs a stopped note; an {'open string' if form == 'open' else 'harmonic'} cannot take it",
            )
    ornaments = tuple(sorted(marks, key=vocab.order.__getitem__))
    return Character(form, finger, hui, written_hui, technique, string, ornaments, prefix)


def _misplaced(text: str, i: int, vocab: Vocabulary, technique: str | None, string: int | None) -> str:
    """Why the rest of ``text`` from ``i`` could not be read."""
    where = " after the string number" if string is not None else " after the technique" if technique else ""
    if text.startswith(GAP, i):
        return f"{GAP} stands between two right-hand strokes (勾间勾四)"
    ch = text[i]
    if _match(text, i, vocab.techniques) or ch in vocab.fingers or ch in NUMERALS or ch in FORM_MARKERS:
        return f"{ch!r} is out of place{where}"
    return f"unknown component {ch!r}{where}"
