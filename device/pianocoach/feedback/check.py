"""Checking a language model's feedback against the numbers before anyone sees it.

A sentence is dropped when it praises a scale the scorer put on its worse side (the scales with a better
end, ``Scale.better``), or quotes an overall mark other than the one measured. With the fundamentals in the request
(a take with a score, or free play) it is also dropped when it names a bar that was not played (any bar in free
play) or quotes a percentage that is none of the request's numbers. A sentence praises a scale
when it is not negated, names the scale's aspect (:mod:`pianocoach.feedback.aspects`), its topic or its
better end, and uses a praise word or describes the playing with that better end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pianocoach.feedback.aspects import SCALE_ASPECT, tag_aspects
from pianocoach.feedback.prompt import FeedbackRequest, facts_text
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
# "bar 12", "bars 3 and 5", "bars 3-5", "bar 12a"; Chinese "第12小节", "第3、5小节"
BARS_EN = re.compile(r"\bbars?\s+(\d+[a-z]?(?:\s*(?:,|and|or|to|-|–)\s*\d+[a-z]?)*)", re.IGNORECASE)
BARS_ZH = re.compile(r"第\s*(\d+[a-z]?(?:\s*[、，,和或到至\-–]\s*\d+[a-z]?)*)\s*小节")
BAR_NUMBER = re.compile(r"\d+[a-z]?", re.IGNORECASE)
PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|％|percent\b)")
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
PERCENT_SLACK = 1.0  # a percentage within this of a number in the request (it may be rounded) is the request's


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
    if request.fundamentals is not None:
        why = _unknown_numbers(sentence, request)
        if why:
            return why
    if "pedal" in tag_aspects(sentence) and not any(SCALE_ASPECT[name] == "pedal" for name in request.values):
        return "talks about the pedal, which this input cannot show"
    for scale in praised_scales(sentence, request.language):
        if scale.name not in request.values:
            return f"talks about {scale.topic('en')}, which this input cannot show"
        goodness = scale.goodness(request.values[scale.name])
        if goodness is not None and goodness < WORSE_SIDE:
            low, high = scale.ends("en")
            score = 7 * request.values[scale.name]
            return f"praises {scale.topic('en')} but it scored {score:.1f} of 7 ({low} 1 .. {high} 7)"
    return None


def quoted_bars(sentence: str) -> list[str]:
    """The bar numbers a sentence names ("bar 3", "bars 5 and 9", "第3小节")."""
    found = [m for pattern in (BARS_EN, BARS_ZH) for m in pattern.findall(sentence)]
    return [number.lower() for group in found for number in BAR_NUMBER.findall(group)]


def _unknown_numbers(sentence: str, request: FeedbackRequest) -> str | None:
    """A bar that was not played, or a percentage that is not in the request (nor 100 less one of them)."""
    f = request.fundamentals or {}
    played = {str(row["bar"]).lower() for row in request.bars or []}
    played |= {str(s["bar"]).lower() for s in f.get("stops") or [] if s.get("bar") is not None}
    for restart in f.get("restarts") or []:
        played |= {str(restart[k]).lower() for k in ("from_bar", "to_bar") if restart.get(k) is not None}
    for bar in quoted_bars(sentence):
        if bar not in played:
            return f"names bar {bar}, which was not played" if played else f"names bar {bar} but there is no score"
    quoted = [float(p) for p in PERCENT.findall(sentence)]
    if quoted:
        known = [float(n) for n in NUMBER.findall(facts_text(request))]
        known += [100.0 - n for n in known]
        for pct in quoted:
            if not any(abs(abs(n) - pct) <= PERCENT_SLACK for n in known):
                return f"quotes {pct:g} %, which is none of the numbers given"
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
