"""Feedback from templates, in English or Chinese: praise for the strongest points, one or two concrete
suggestions for the weakest, worded for high, low and mixed results, and never against the numbers.

With the fundamentals (a take followed along a score, or free play) the feedback names them first: the bars with
wrong or missed notes, stops, tempo, hands and dynamics (:mod:`pianocoach.feedback.fundamentals_advice`).

Only the scales where one end is better are judged (``Scale.better``); a scale is praised only when it
sits on its better side of the middle, and criticised only when it sits on the worse side. Suggestions
quote the plain measurements (tempo variation, pedal time, dB range) that back them up.
"""

from __future__ import annotations

from pianocoach.feedback.fundamentals_advice import fundamentals_sentences, judged_scales
from pianocoach.rating_scales import Scale

# marks above/below which the result reads as high/low: a fluent, accurate take scores its expression mark (README
# "The mark"), so these are expression marks of 65 and 50 in a take without mistakes (the bundle's expression marks
# are spread as the listeners' are: PercePiano's mean 52, spread 11)
HIGH_MARK, LOW_MARK = 65.0, 50.0

OPENING = {
    "en": {
        "high": "A convincing performance ({mark:.0f}/100).",
        "mixed": "A solid performance with room to grow ({mark:.0f}/100).",
        "low": "This one did not come across yet ({mark:.0f}/100), but it is a start to build on.",
    },
    "zh": {
        "high": "很有说服力的演奏（{mark:.0f}/100）。",
        "mixed": "演奏扎实，仍有提升空间（{mark:.0f}/100）。",
        "low": "这次演奏还没有完全打动听众（{mark:.0f}/100），但这是一个可以继续打磨的起点。",
    },
}
PRAISE = {"en": "Listeners would hear your {topic} as {word}.", "zh": "你的{topic}听起来{word}。"}
NOTHING_TO_PRAISE = {"en": "No single aspect stood out yet.", "zh": "暂时还没有特别突出的方面。"}
# one concrete suggestion per judged scale; {tempo_var}, {pedal_pct}, {db} come from the measurements
SUGGEST = {
    "Timing: stable / unstable": {
        "en": "Steady the pulse: your tempo varied by {tempo_var:.0f} %. "
        "Practise the passage with a metronome a little slower, then play it freely again.",
        "zh": "稳住节拍：你的速度波动了 {tempo_var:.0f}%。先用节拍器放慢练习这一段，再自由地弹。",
    },
    "Pedal: clean / blurred": {
        "en": "Clear the pedal: it was down {pedal_pct:.0f} % of the time. "
        "Change it with each new harmony and listen for the blur to clear.",
        "zh": "踏板要更干净：踩下的时间占 {pedal_pct:.0f}%。每换一个和声就换一次踏板，听着声音变清楚。",
    },
    "Dynamic: sophisticated-mellow / raw-crude": {
        "en": "Round off the loudest notes (your range was {db:.0f} dB): "
        "let the arm's weight, not a hit, make the forte.",
        "zh": "把最强的音收圆一些（力度范围 {db:.0f} dB）：用手臂的重量而不是敲击来弹强音。",
    },
    "Music making: disproportioned / balanced": {
        "en": "Balance the phrases: decide where each phrase peaks and keep the rest in proportion to it.",
        "zh": "让乐句比例更均衡：先确定每个乐句的高点，其余部分与之相称。",
    },
    "Timbre: shallow / rich": {
        "en": "Deepen the tone: sink into the keys from the arm and let the melody sing over the accompaniment.",
        "zh": "让音色更饱满：用手臂的力量沉入琴键，让旋律在伴奏之上歌唱。",
    },
    "Music making: flat / spacious": {
        "en": "Give the music room: breathe at the ends of phrases and let the dynamics rise and fall.",
        "zh": "给音乐留出空间：在乐句结尾呼吸，让力度有起有伏。",
    },
    "Interpretation: unsatisfactory-doubtful / convincing": {
        "en": "Commit to a character: decide what each phrase should say before you play it, and play it that way.",
        "zh": "确定音乐性格：弹之前想好每个乐句要表达什么，然后坚定地表现出来。",
    },
}
PROVISIONAL = {
    "en": "(Scored from a microphone transcription: treat the numbers as a rough guide.)",
    "zh": "（根据麦克风转录评分，数值仅供参考。）",
}


def _judged(values: dict[str, float]) -> list[tuple[float, Scale]]:
    """(goodness 0..1, scale) for every scale with a better end, best first."""
    return judged_scales(values)


def tier(mark: float) -> str:
    return "high" if mark >= HIGH_MARK else "low" if mark < LOW_MARK else "mixed"


def feedback_text(
    values: dict[str, float],
    mark: float,
    measures: dict,
    language: str = "en",
    provisional: bool = False,
    fundamentals: dict | None = None,
    bars: list[dict] | None = None,
) -> str:
    """``fundamentals`` / ``bars``: the result's (None without them): the notes, stops, tempo, hands and dynamics
    worth a word come first, naming bars (:mod:`pianocoach.feedback.fundamentals_advice`); the expression second."""
    lang = "zh" if language == "zh" else "en"
    judged = _judged(values)
    parts = [OPENING[lang][tier(mark)].format(mark=mark)]
    basics = fundamentals_sentences(fundamentals, bars, lang)
    parts.extend(basics)
    good = [(g, s) for g, s in judged if g > 0.5][: 2 if tier(mark) == "high" else 1]
    if good:
        for _, scale in good:
            better_word = scale.ends(lang)[1 if scale.better > 0 else 0]
            parts.append(PRAISE[lang].format(topic=scale.topic(lang), word=better_word))
    else:
        parts.append(NOTHING_TO_PRAISE[lang])
    numbers = {
        "tempo_var": _value(measures, "tempo_variation_pct"),
        "pedal_pct": _value(measures, "pedal_down_pct"),
        "db": _value(measures, "dynamic_range_db"),
    }
    fixes = 1 if tier(mark) == "high" or basics else 2  # fundamentals to fix: one expressive suggestion is enough
    # a suggestion quoting a number the input could not give is never made
    can_suggest = [(g, s) for g, s in reversed(judged) if s.name in SUGGEST and _quotable(s.name, lang, numbers)]
    weak = [(g, s) for g, s in can_suggest if g < 0.5][:fixes]
    if not weak and can_suggest:  # everything on its better side: suggest the least strong one as the next step
        weak = can_suggest[:1]
        parts.append("To go further:" if lang == "en" else "更进一步：")
    parts.extend(SUGGEST[s.name][lang].format(**numbers) for _, s in weak)
    if provisional:
        parts.append(PROVISIONAL[lang])
    return (" " if lang == "en" else "").join(parts)


def _value(measures: dict, name: str) -> float | None:
    """A measure's value; None when it is missing or the input could not give it."""
    item = measures.get(name)
    value = None if item is None else item["value"] if isinstance(item, dict) else item.value
    return None if value is None else float(value)


def _quotable(scale: str, language: str, numbers: dict[str, float | None]) -> bool:
    """Whether the suggestion for ``scale`` has every number it quotes."""
    form = SUGGEST[scale][language]
    return all(value is not None or "{" + key not in form for key, value in numbers.items())
