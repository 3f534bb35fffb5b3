"""The prompt a feedback language model sees: the 19 scales on the listeners' 1-7 rating scale, the
overall mark and the plain measurements, in English or Chinese, with a word limit.

The host builds its instruction data with these same functions (:mod:`pianocoach_train.llm`), so the
fine-tuned model is asked on the device exactly as it was taught.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pianocoach.rating_scales import SCALES

LANGUAGES = ("en", "zh")

SYSTEM = {
    "en": (
        "You are a piano teacher listening to a student. In at most {words} words, say how the performance "
        "came across and give one or two concrete suggestions. Praise only what scored well; use only the "
        "numbers given."
    ),
    "zh": (
        "你是一位正在听学生弹琴的钢琴老师。用不超过{chars}个字说明这次演奏给人的感受，并给出一两个具体建议。"
        "只表扬得分高的方面；只使用给出的数字。"
    ),
}
HEADINGS = {
    "en": {
        "mark": "Overall mark: {mark:.0f}/100",
        "scales": "Listener scales (1 to 7):",
        "measures": "Measurements:",
        "better": "better: {end}",
        "provisional": "Scored from a microphone transcription.",
    },
    "zh": {
        "mark": "总分：{mark:.0f}/100",
        "scales": "听众量表（1 到 7）：",
        "measures": "测量：",
        "better": "较好：{end}",
        "provisional": "根据麦克风转录评分。",
    },
}


@dataclass(frozen=True)
class FeedbackRequest:
    """What feedback is written about: scale values on the label scale (1/7..1), the 0-100 mark, the
    measurements (``name -> {value, unit, label_en, label_zh}``), the language and the word limit."""

    values: dict[str, float]
    mark: float
    measures: dict[str, dict] = field(default_factory=dict)
    language: str = "en"
    word_limit: int = 45
    provisional: bool = False

    @property
    def lang(self) -> str:
        return "zh" if self.language == "zh" else "en"


def rating(value: float) -> float:
    """A label-scale value (1/7..1) as the listeners' 1-7 rating."""
    return round(7.0 * value, 1)


def facts_text(request: FeedbackRequest) -> str:
    """The user turn: the mark, each scale with its ends (and the better end where one is), the measurements."""
    lang, words = request.lang, HEADINGS[request.lang]
    lines = [words["mark"].format(mark=request.mark), words["scales"]]
    for scale in SCALES:
        low, high = scale.ends(lang)
        line = f"- {scale.topic(lang)}: {rating(request.values[scale.name]):.1f} (1 {low}, 7 {high}"
        if scale.better:
            line += "; " + words["better"].format(end=high if scale.better > 0 else low)
        lines.append(line + ")")
    if request.measures:
        lines.append(words["measures"])
        for item in request.measures.values():
            label = item["label_zh"] if lang == "zh" else item["label_en"]
            lines.append(f"- {label}: {item['value']:g} {item['unit']}")
    if request.provisional:
        lines.append(words["provisional"])
    return "\n".join(lines)


def system_text(request: FeedbackRequest) -> str:
    return SYSTEM[request.lang].format(words=request.word_limit, chars=2 * request.word_limit)


def prompt_messages(request: FeedbackRequest) -> list[dict[str, str]]:
    """Chat messages (system, user) for an OpenAI-style chat completion."""
    return [{"role": "system", "content": system_text(request)}, {"role": "user", "content": facts_text(request)}]
