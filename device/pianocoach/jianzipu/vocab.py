"""What the image reader predicts: one head per part, and the valid whole characters they combine into.

Heads: form (stopped, open, harmonic), finger (none, 大 食 中 名), hui_whole (none, 1..13), hui_tenth
(0..9; 半 is 5), technique (8), string (1..7). The hui is read as a whole number and a tenth, so the
reader can read positions it never saw whole. 跪 is left out (its glyph is missing from two of the fonts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pianocoach.jianzipu.parser import Character, hui_text

FORMS = ("stopped", "open", "harmonic")
FINGERS = ("none", "大", "食", "中", "名")
HUI_WHOLE = ("none",) + tuple(str(i) for i in range(1, 14))
HUI_TENTH = tuple(str(i) for i in range(10))
TECHNIQUES = ("擘", "托", "抹", "挑", "勾", "剔", "打", "摘")
STRINGS = tuple(str(i) for i in range(1, 8))
HEADS: dict[str, tuple[str, ...]] = {
    "form": FORMS,
    "finger": FINGERS,
    "hui_whole": HUI_WHOLE,
    "hui_tenth": HUI_TENTH,
    "technique": TECHNIQUES,
    "string": STRINGS,
}


def labels(character: Character) -> dict[str, int]:
    """Head targets for a character."""
    whole = int(character.hui) if character.hui is not None else 0
    tenth = int(round((character.hui - whole) * 10)) if character.hui is not None else 0
    return {
        "form": FORMS.index(character.form),
        "finger": FINGERS.index(character.finger or "none"),
        "hui_whole": whole,
        "hui_tenth": tenth,
        "technique": TECHNIQUES.index(character.technique),
        "string": character.string - 1,
    }


def character(indices: dict[str, int]) -> Character | None:
    """The character head indices stand for, or None when they do not make a valid one."""
    form, finger = FORMS[indices["form"]], FINGERS[indices["finger"]]
    whole, tenth = indices["hui_whole"], indices["hui_tenth"]
    technique, string = TECHNIQUES[indices["technique"]], indices["string"] + 1
    if form == "open":
        if finger != "none" or whole != 0 or tenth != 0:
            return None
        return Character("open", None, None, None, technique, string)
    if finger == "none" or whole == 0 or (form == "harmonic" and tenth):  # harmonics sound only at a hui
        return None
    hui = whole + tenth / 10
    return Character(form, finger, hui, hui_text(hui), technique, string)


@dataclass(frozen=True)
class Candidate:
    character: Character
    probability: float  # product of the head probabilities: the reader's probability of this exact reading


def top_characters(probabilities: dict[str, np.ndarray], k: int = 5, per_head: int = 4) -> list[Candidate]:
    """The k most probable valid whole characters, from independent per-head probabilities: the best
    ``per_head`` classes of every head are combined (ranked by the product of their probabilities) and
    invalid combinations skipped."""
    names = list(HEADS)
    options = [np.argsort(probabilities[name])[::-1][:per_head] for name in names]
    logs = [np.log(np.maximum(probabilities[name][idx], 1e-12)) for name, idx in zip(names, options)]
    joint = logs[0]
    for part in logs[1:]:
        joint = np.add.outer(joint, part)
    found = []
    for flat in np.argsort(joint, axis=None)[::-1]:
        position = np.unravel_index(flat, joint.shape)
        indices = {name: int(options[h][i]) for h, (name, i) in enumerate(zip(names, position))}
        reading = character(indices)
        if reading is not None:
            found.append(Candidate(reading, float(np.exp(joint[position]))))
            if len(found) == k:
                break
    return found
