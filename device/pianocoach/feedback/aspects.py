"""Which aspects of playing a piece of feedback talks about: dynamics, pedal, timing, tone, articulation,
emotion. A keyword tagger over English, Chinese and Korean (the PercePiano raters wrote in Korean).

The rule: a text addresses an aspect when it contains one of that aspect's keywords (lower-cased
match; English words match at the start of a word, so "dynamic" finds "dynamics" but "tone" not
"stone"; Korean and Chinese have no word spaces, so their stems match anywhere). The lists were written
from the scale names, the template sentences and a reading of the raters' comments; words that belong
to two aspects (Korean 소리 "sound", English "expression") are left out rather than guessed.
"""

from __future__ import annotations

import re

ASPECTS = ("dynamics", "pedal", "timing", "tone", "articulation", "emotion")

KEYWORDS: dict[str, tuple[str, ...]] = {
    "dynamics": (
        "dynamic",
        "loud",
        "forte",
        "crescendo",
        "diminuendo",
        "volume",
        "velocity",
        "db",
        "accent",
        "力度",
        "强弱",
        "音量",
        "强音",
        "弱音",
        "渐强",
        "渐弱",
        "다이내믹",
        "다이나믹",
        "셈여림",
        "강약",
        "강 약",
        "음량",
        "크레센도",
        "볼륨",
        "세기",
        "여리게",
        "포르테",
    ),
    "pedal": (
        "pedal",
        "踏板",
        "페달",
        "잔향",
        "뭉개",
        "뭉게",
    ),
    "timing": (
        "tempo",
        "timing",
        "pulse",
        "rhythm",
        "metronome",
        "rubato",
        "beat",
        "rushed",
        "rushing",
        "pace",
        "节奏",
        "节拍",
        "速度",
        "拍子",
        "节拍器",
        "템포",
        "박자",
        "리듬",
        "속도",
        "빨라",
        "빠르",
        "느려",
        "느리",
        "루바토",
        "타이밍",
        "급하",
    ),
    "tone": (
        "tone",
        "timbre",
        "colour",
        "color",
        "sonority",
        "sing",
        "音色",
        "音质",
        "声音",
        "歌唱",
        "음색",
        "톤",
        "맑은",
        "맑게",
        "풍부",
        "깨지는",
    ),
    "articulation": (
        "articulation",
        "staccato",
        "legato",
        "touch",
        "detached",
        "connected",
        "attack",
        "触键",
        "连奏",
        "断奏",
        "连断",
        "断开",
        "아티큘레이션",
        "스타카토",
        "레가토",
        "끊어",
        "끊기",
        "끊겨",
        "끊김",
        "터치",
        "타건",
    ),
    "emotion": (
        "emotion",
        "mood",
        "feeling",
        "character",
        "expressive",
        "energy",
        "imaginative",
        "dramatic",
        "passion",
        "情绪",
        "情感",
        "感情",
        "性格",
        "表现力",
        "想象",
        "戏剧",
        "감정",
        "감성",
        "분위기",
        "우울",
        "슬픈",
        "슬픔",
        "기계적",
        "무미건조",
        "밋밋",
        "열정",
        "서정",
        "극적",
    ),
}

# the aspect each PercePiano scale belongs to (the feedback check uses it to find the scores behind a sentence)
SCALE_ASPECT: dict[str, str] = {
    "Timing: stable / unstable": "timing",
    "Articulation: short / long": "articulation",
    "Articulation: soft-cushioned / hard-solid": "articulation",
    "Pedal: sparse-dry / saturated-wet": "pedal",
    "Pedal: clean / blurred": "pedal",
    "Timbre: even / colorful": "tone",
    "Timbre: shallow / rich": "tone",
    "Timbre: bright / dark": "tone",
    "Timbre: soft / loud": "dynamics",
    "Dynamic: sophisticated-mellow / raw-crude": "dynamics",
    "Dynamic range: little / large": "dynamics",
    "Music making: fast-paced / slow-paced": "timing",
    "Music making: flat / spacious": "emotion",
    "Music making: disproportioned / balanced": "emotion",
    "Music making: pure / dramatic-expressive": "emotion",
    "Emotion: optimistic-pleasant / dark": "emotion",
    "Emotion: low energy / high energy": "emotion",
    "Emotion: honest / imaginative": "emotion",
    "Interpretation: unsatisfactory-doubtful / convincing": "emotion",
}


def _pattern(words: tuple[str, ...]) -> re.Pattern:
    latin = [re.escape(w) for w in words if w.isascii()]
    other = [re.escape(w) for w in words if not w.isascii()]
    parts = ([rf"\b(?:{'|'.join(latin)})"] if latin else []) + ([f"(?:{'|'.join(other)})"] if other else [])
    return re.compile("|".join(parts))


PATTERNS = {aspect: _pattern(words) for aspect, words in KEYWORDS.items()}


def tag_aspects(text: str) -> set[str]:
    """The aspects a text mentions (empty when it mentions none)."""
    lowered = text.lower()
    return {aspect for aspect, pattern in PATTERNS.items() if pattern.search(lowered)}
