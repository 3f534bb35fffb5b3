"""What the image reader predicts: one head per part, and the valid whole readings they combine into.

Heads (softmax): form (stopped, open, harmonic, unmarked: nothing written for the left hand), finger (none, 大 食
中 名 跪), hui_whole (none, 1..13, 外 = 徽外), hui_tenth (0..9; 半 is 5), prefix (a stroke written above the main
one and played first: 抹 of 抹挑), technique, string (none, 1..7); ``marks`` (sigmoid, several at once): the
left-hand marks and 间; and ``outside`` (sigmoid): the character needs a part the vocabulary has no class for.
These are the parts real printed characters of 五声琴谱 use (issue 21); a character that needs any other part is
outside the vocabulary, and the reader says so rather than force a class. The hui is read as a whole number and a
tenth, so the reader can read positions it never saw whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pianocoach.jianzipu.parser import Character, JianzipuError, hui_text, parse

FORMS = ("stopped", "open", "harmonic", "unmarked")
FINGERS = ("none", "大", "食", "中", "名", "跪")
HUI_OUTSIDE = "外"  # 徽外: beyond the 13th hui
HUI_WHOLE = ("none",) + tuple(str(i) for i in range(1, 14)) + (HUI_OUTSIDE,)
HUI_TENTH = tuple(str(i) for i in range(10))
# the model's output layout: a fixed copy, not read from the knowledge data (a new stroke there must not shift a
# trained reader's classes); tests/device/test_jianzipu_vocab_column.py keeps it in step with the knowledge data
STROKES = (
    "擘",
    "托",
    "抹",
    "挑",
    "勾",
    "剔",
    "打",
    "摘",
    "历",
    "轮",
    "滚",
    "拂",
    "蠲",
    "锁",
    "长锁",
    "撮",
    "双弹",
    "拨剌",
)
TECHNIQUES = ("none",) + STROKES
PREFIXES = TECHNIQUES
STRINGS = ("none",) + tuple(str(i) for i in range(1, 8))
HEADS: dict[str, tuple[str, ...]] = {
    "form": FORMS,
    "finger": FINGERS,
    "hui_whole": HUI_WHOLE,
    "hui_tenth": HUI_TENTH,
    "prefix": PREFIXES,
    "technique": TECHNIQUES,
    "string": STRINGS,
}
# the multi-label head: left-hand marks and 间, in the order the long form writes them
MARKS = ("绰", "注", "上", "下", "撞", "掩", "就", "间", "吟", "猱", "对起", "对按")  # the parser's canonical order
MARKS_OUTPUT = "marks"
# the probability that the character uses a part (or a structure: two strings, three strokes) the heads have no
# class for; trained on the real characters outside the vocabulary, so the reader says so instead of forcing one
OUTSIDE_OUTPUT = "outside"
OUTPUTS = tuple(HEADS) + (MARKS_OUTPUT, OUTSIDE_OUTPUT)
MARK_THRESHOLD = 0.5
OUTSIDE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Reading:
    """One character as the reader's parts."""

    form: str
    finger: str | None = None
    hui_whole: str = "none"
    hui_tenth: int = 0
    prefix: str | None = None
    technique: str | None = None
    string: int | None = None
    marks: frozenset[str] = frozenset()

    def valid(self) -> bool:
        """Whether the parts make a character the parser accepts, written and read back the same (the parser is
        the one judge: an open string has no finger, a harmonic sounds at a whole hui, a stroke-less character
        sounds by the left hand alone, ...)."""
        if self.hui_tenth and self.hui_whole in ("none", HUI_OUTSIDE):
            return False
        try:
            character = self.character()
            return parse(character.text) == character
        except JianzipuError:
            return False

    @property
    def hui(self) -> float | None:
        if self.hui_whole in ("none", HUI_OUTSIDE):
            return None
        return int(self.hui_whole) + self.hui_tenth / 10

    def character(self) -> Character:
        """As the parser's character (for the explanation)."""
        hui = self.hui
        written = HUI_OUTSIDE if self.hui_whole == HUI_OUTSIDE else hui_text(hui) if hui is not None else None
        return Character(
            self.form,
            self.finger,
            hui,
            written,
            self.technique,
            self.string,
            tuple(m for m in MARKS if m in self.marks),
            self.prefix,
        )

    @property
    def text(self) -> str:
        return self.character().text


def reading_of(character: Character) -> Reading:
    """The reader's parts of a parsed character (every part the parser knows is one of the vocabulary's)."""
    if character.hui_text == HUI_OUTSIDE:
        whole, tenth = HUI_OUTSIDE, 0
    elif character.hui is None:
        whole, tenth = "none", 0
    else:
        whole = str(int(character.hui))
        tenth = int(round((character.hui - int(character.hui)) * 10))
    return Reading(
        form=character.form,
        finger=character.finger,
        hui_whole=whole,
        hui_tenth=tenth,
        prefix=getattr(character, "prefix", None),
        technique=character.technique,
        string=character.string,
        marks=frozenset(character.ornaments),
    )


def labels(reading: Reading) -> dict[str, int]:
    """Head targets (class indices) of a reading."""
    return {
        "form": FORMS.index(reading.form),
        "finger": FINGERS.index(reading.finger or "none"),
        "hui_whole": HUI_WHOLE.index(reading.hui_whole),
        "hui_tenth": reading.hui_tenth,
        "prefix": PREFIXES.index(reading.prefix or "none"),
        "technique": TECHNIQUES.index(reading.technique or "none"),
        "string": STRINGS.index(str(reading.string) if reading.string else "none"),
    }


def mark_targets(reading: Reading) -> np.ndarray:
    """The marks head's target: 1 for each mark the reading has."""
    return np.array([m in reading.marks for m in MARKS], dtype=np.float32)


def reading(indices: dict[str, int], marks: frozenset[str] = frozenset()) -> Reading | None:
    """The reading head indices stand for, or None when they do not make a valid one."""

    def named(classes: tuple[str, ...], index: int) -> str | None:
        return None if classes[index] == "none" else classes[index]

    string = named(STRINGS, indices["string"])
    found = Reading(
        form=FORMS[indices["form"]],
        finger=named(FINGERS, indices["finger"]),
        hui_whole=HUI_WHOLE[indices["hui_whole"]],
        hui_tenth=indices["hui_tenth"],
        prefix=named(PREFIXES, indices["prefix"]),
        technique=named(TECHNIQUES, indices["technique"]),
        string=int(string) if string else None,
        marks=marks,
    )
    return found if found.valid() else None


@dataclass(frozen=True)
class Candidate:
    reading: Reading
    probability: float  # product of the head probabilities (and of the marks' decisions)


def marks_read(probabilities: np.ndarray) -> tuple[frozenset[str], float]:
    """The marks above the threshold, and the probability of exactly that set."""
    chosen = probabilities >= MARK_THRESHOLD
    p = float(np.prod(np.where(chosen, probabilities, 1 - probabilities)))
    return frozenset(m for m, on in zip(MARKS, chosen) if on), p


def top_readings(probabilities: dict[str, np.ndarray], k: int = 5, per_head: int = 3) -> list[Candidate]:
    """The k most probable valid readings, from independent per-head probabilities: the best ``per_head``
    classes of every head are combined (ranked by the product of their probabilities), invalid combinations
    skipped; the marks are those above :data:`MARK_THRESHOLD`."""
    found = _top_with_marks(probabilities, *marks_read(probabilities[MARKS_OUTPUT]), k, per_head)
    if not found:  # the marks read clash with every combination (对起 with 散): the parts without them
        absent = float(np.prod(1 - probabilities[MARKS_OUTPUT]))
        found = _top_with_marks(probabilities, frozenset(), absent, k, per_head)
    return found


def _top_with_marks(
    probabilities: dict[str, np.ndarray], marks: frozenset[str], marks_p: float, k: int, per_head: int
) -> list[Candidate]:
    names = list(HEADS)
    options = [np.argsort(probabilities[name])[::-1][:per_head] for name in names]
    logs = [np.log(np.maximum(probabilities[name][idx], 1e-12)) for name, idx in zip(names, options)]
    joint = logs[0]
    for part in logs[1:]:
        joint = np.add.outer(joint, part)
    found: list[Candidate] = []
    for flat in np.argsort(joint, axis=None)[::-1]:
        position = np.unravel_index(flat, joint.shape)
        indices = {name: int(options[h][i]) for h, (name, i) in enumerate(zip(names, position))}
        candidate = reading(indices, marks)
        if candidate is not None:
            found.append(Candidate(candidate, float(np.exp(joint[position])) * marks_p))
            if len(found) == k:
                break
    return found
