"""Checking a language model's feedback against the numbers before anyone sees it.

A sentence is dropped when it praises a scale the scorer put on its worse side (the scales with a better
end, ``Scale.better``), or quotes an overall mark other than the one measured. A sentence praises a scale
when it is not negated, names the scale's aspect (:mod:`pianocoach.feedback.aspects`), its topic or its
better end, and uses a praise word or describes the playing with that better end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pianocoach.feedback.aspects import SCALE_ASPECT, tag_aspects
from pianocoach.feedback.prompt import FeedbackRequest
from pianocoach.rating_scales import SCALES, Scale

WORSE_SIDE = 0.45  # goodness below this (on 0..1) is "scored low": about 3.7 of 7 towards the worse end

PRAISE = {
    "en": (
        "good",
        "great",
        "well ",
        "nice",
        "excellent",
        "beautiful",
        "lovely",
        "wonderful",
        "impressive",
        "convincing",
        "superb",
        "fine ",
        "strength",
        "strong point",
        "praise",
        "bravo",
    ),
    "zh": ("很好", "真好", "非常好", "出色", "优美", "好听", "精彩", "令人信服", "棒", "优秀", "漂亮"),
}
DESCRIBES = {
    "en": (" was ", " were ", " is ", " are ", " sounded", " sounds", "came across", " felt", " as "),
    "zh": ("听起来", "很", "非常", "十分", "相当"),
}
NEGATION = {
    "en": (" not ", "n't", " no ", "never", "lack", "could be", " more ", " less ", "too ", "try", "should"),
    "zh": ("不", "没", "缺", "欠", "需要", "应该", "更", "太"),
}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")
MARK = re.compile(r"(\d{1,3})\s*/\s*100")


@dataclass
class Checked:
    kept: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (sentence, why)


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(text) if part and part.strip()]


def praised_scales(sentence: str, language: str) -> list[Scale]:
    """The judged scales a sentence praises (empty for criticism, suggestions and neutral sentences)."""
    lang = "zh" if language == "zh" else "en"
    text = f" {sentence.lower()} "
    if any(word in text for word in NEGATION[lang]):
        return []
    aspects = tag_aspects(sentence)
    has_praise = any(word in text for word in PRAISE[lang])
    describes = any(word in text for word in DESCRIBES[lang])
    found = []
    for scale in SCALES:
        if not scale.better:
            continue
        better_end = scale.ends(lang)[1 if scale.better > 0 else 0].lower()
        named = SCALE_ASPECT[scale.name] in aspects or scale.topic(lang).lower() in text or better_end in text
        if named and (has_praise or (better_end in text and describes)):
            found.append(scale)
    return found


def check_sentence(sentence: str, request: FeedbackRequest) -> str | None:
    """Why the sentence contradicts the numbers, or None when it may be shown."""
    for quoted in MARK.findall(sentence):
        if abs(int(quoted) - request.mark) > 2:
            return f"quotes {quoted}/100 but the mark is {request.mark:.0f}"
    for scale in praised_scales(sentence, request.language):
        goodness = scale.goodness(request.values[scale.name])
        if goodness is not None and goodness < WORSE_SIDE:
            low, high = scale.ends("en")
            score = 7 * request.values[scale.name]
            return f"praises {scale.topic('en')} but it scored {score:.1f} of 7 ({low} 1 .. {high} 7)"
    return None


def check_feedback(text: str, request: FeedbackRequest) -> Checked:
    result = Checked()
    for sentence in split_sentences(text):
        why = check_sentence(sentence, request)
        if why:
            result.dropped.append((sentence, why))
        else:
            result.kept.append(sentence)
    return result
