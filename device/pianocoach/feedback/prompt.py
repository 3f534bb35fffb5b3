"""The prompt a feedback language model sees: the 19 scales on the listeners' 1-7 rating scale, the
overall mark and the plain measurements, in English or Chinese, with a word limit.

The host builds its instruction data with these same functions (:mod:`pianocoach_train.llm`), so the
fine-tuned model is asked on the device exactly as it was taught.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pianocoach.feedback.fundamentals_advice import bar_errors, next_focus
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
        "unknown": "unknown (this input cannot show it)",
        "better": "better: {end}",
        "provisional": "Scored from a microphone transcription.",
        "piece": "Piece: {title}",
        "free": "Free play (no score)",
        "fundamentals": "Fundamentals:",
        "accuracy": "notes right {pct:g} % ({wrong} wrong, {missed} missed, {extra} extra)",
        "errors": "errors by bar: {bars}",
        "stops": "stops before bars: {bars}",
        "stops_free": "stops: {n}",
        "restarts": "restarts: {items}",
        "restarts_free": "restarts: {n}",
        "tempo": "tempo {played:g} quarter notes a minute, marked {marked:g} ({pct:g} %)",
        "tempo_played": "tempo {played:g} quarter notes a minute",
        "trend": "tempo {trend} ({change:+g} %)",
        "steadiness": "tempo spread {pct:g} %",
        "hands": "right hand minus left hand {db:+g} dB",
        "dynamics": "dynamic markings followed {pct:g} %",
        "next": "Work on first: {line}",
    },
    "zh": {
        "mark": "总分：{mark:.0f}/100",
        "scales": "听众量表（1 到 7）：",
        "measures": "测量：",
        "unknown": "未知（这种输入无法测出）",
        "better": "较好：{end}",
        "provisional": "根据麦克风转录评分。",
        "piece": "曲目：{title}",
        "free": "自由弹奏（没有乐谱）",
        "fundamentals": "基本功：",
        "accuracy": "音弹对 {pct:g}%（错音 {wrong}，漏音 {missed}，多弹 {extra}）",
        "errors": "各小节错误：{bars}",
        "stops": "停顿在这些小节前：{bars}",
        "stops_free": "停顿：{n} 次",
        "restarts": "重弹：{items}",
        "restarts_free": "重弹：{n} 次",
        "tempo": "速度每分钟 {played:g} 个四分音符，标记 {marked:g}（{pct:g}%）",
        "tempo_played": "速度每分钟 {played:g} 个四分音符",
        "trend": "速度{trend}（{change:+g}%）",
        "steadiness": "速度波动 {pct:g}%",
        "hands": "右手减左手 {db:+g} dB",
        "dynamics": "力度记号弹对 {pct:g}%",
        "next": "首先要练：{line}",
    },
}


@dataclass(frozen=True)
class FeedbackRequest:
    """What feedback is written about: scale values on the label scale (1/7..1; a scale the input cannot show is
    left out), the 0-100 mark, the measurements (``name -> {value, unit, label_en, label_zh}``, value None when
    unknown), the language and the word limit."""

    values: dict[str, float]
    mark: float
    measures: dict[str, dict] = field(default_factory=dict)
    language: str = "en"
    word_limit: int = 45
    provisional: bool = False
    # the result's fundamentals (wrong/missed notes, stops, tempo, hands, ...), its bars as played and the piece
    # (``PerformanceResult.fundamentals`` / ``.bars`` / ``.piece``); None when scored without them
    fundamentals: dict | None = None
    bars: list[dict] | None = None
    piece: dict | None = None

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
        if scale.name not in request.values:  # the input cannot show it: the model is not told a value
            continue
        low, high = scale.ends(lang)
        line = f"- {scale.topic(lang)}: {rating(request.values[scale.name]):.1f} (1 {low}, 7 {high}"
        if scale.better:
            line += "; " + words["better"].format(end=high if scale.better > 0 else low)
        lines.append(line + ")")
    if request.measures:
        lines.append(words["measures"])
        for item in request.measures.values():
            label = item["label_zh"] if lang == "zh" else item["label_en"]
            if item["value"] is None:  # the input cannot give it: said so, so the model never guesses a number
                lines.append(f"- {label}: {words['unknown']}")
            else:
                lines.append(f"- {label}: {item['value']:g} {item['unit']}")
    lines.extend(fundamentals_lines(request))
    if request.provisional:
        lines.append(words["provisional"])
    return "\n".join(lines)


TRENDS_ZH = {"steady": "稳定", "dragging": "越来越慢", "rushing": "越来越快"}
MAX_PROMPT_BARS = 8  # bars with errors listed in the prompt (the most first): the prompt stays short


def fundamentals_lines(request: FeedbackRequest) -> list[str]:
    """The piece and the fundamentals, compactly: accuracy, errors by bar, stops, restarts, tempo against the
    marking, hands and dynamics (only what was measured), and the one thing to work on first."""
    f, lang, words = request.fundamentals, request.lang, HEADINGS[request.lang]
    lines = []
    if request.piece is not None:
        title = request.piece.get("title") if request.piece.get("id") is not None else None
        lines.append(words["piece"].format(title=title) if title else words["free"])
    if not f:
        return lines
    facts = []
    notes = f.get("notes")
    if notes:
        facts.append(
            words["accuracy"].format(
                pct=notes["accuracy_pct"], wrong=notes["wrong"], missed=notes["missed"], extra=notes["extra"]
            )
        )
        worst = sorted(bar_errors(request.bars), key=lambda b: -(b.slips + b.extra))[:MAX_PROMPT_BARS]
        if worst:
            facts.append(words["errors"].format(bars=", ".join(_bar_fact(b, lang) for b in worst)))
    stops, restarts = f.get("stops") or [], f.get("restarts") or []
    if stops and all(s.get("bar") is not None for s in stops):
        facts.append(words["stops"].format(bars=", ".join(str(s["bar"]) for s in stops)))
    elif stops:
        facts.append(words["stops_free"].format(n=len(stops)))
    if restarts and all(r.get("from_bar") is not None for r in restarts):
        facts.append(words["restarts"].format(items=", ".join(f"{r['from_bar']}->{r['to_bar']}" for r in restarts)))
    elif restarts:
        facts.append(words["restarts_free"].format(n=len(restarts)))
    tempo = f.get("tempo") or {}
    if tempo.get("played_qpm") and tempo.get("marked_qpm") and tempo.get("ratio_to_marking") is not None:
        pct = round(100 * tempo["ratio_to_marking"])
        facts.append(words["tempo"].format(played=tempo["played_qpm"], marked=tempo["marked_qpm"], pct=pct))
    elif tempo.get("played_qpm"):
        facts.append(words["tempo_played"].format(played=tempo["played_qpm"]))
    if tempo.get("change_pct") is not None and tempo.get("trend"):
        trend = TRENDS_ZH.get(tempo["trend"], tempo["trend"]) if lang == "zh" else tempo["trend"]
        facts.append(words["trend"].format(trend=trend, change=tempo["change_pct"]))
    if tempo.get("steadiness_pct") is not None:
        facts.append(words["steadiness"].format(pct=tempo["steadiness_pct"]))
    hands = f.get("hands")
    if hands and hands.get("right_minus_left_db") is not None:
        facts.append(words["hands"].format(db=hands["right_minus_left_db"]))
    dynamics = f.get("dynamics")
    if dynamics and dynamics.get("agreement") is not None:
        facts.append(words["dynamics"].format(pct=round(100 * dynamics["agreement"])))
    lines.append(words["fundamentals"] + " " + ("；" if lang == "zh" else "; ").join(facts))
    focus = next_focus(f, request.bars, request.values)
    if focus.kind != "expression":
        lines.append(words["next"].format(line=focus.line(lang).split("：" if lang == "zh" else ": ", 1)[-1]))
    return lines


def _bar_fact(errors, lang: str) -> str:
    """ "3: 2 wrong, 1 missed" (Chinese: "第3小节 错2 漏1")."""
    counts = [(errors.wrong, "wrong", "错"), (errors.missed, "missed", "漏"), (errors.extra, "extra", "多")]
    if lang == "zh":
        return f"第{errors.bar}小节 " + " ".join(f"{zh}{n}" for n, _, zh in counts if n)
    return f"{errors.bar}: " + " ".join(f"{n} {en}" for n, en, _ in counts if n)


def system_text(request: FeedbackRequest) -> str:
    return SYSTEM[request.lang].format(words=request.word_limit, chars=2 * request.word_limit)


def prompt_messages(request: FeedbackRequest) -> list[dict[str, str]]:
    """Chat messages (system, user) for an OpenAI-style chat completion."""
    return [{"role": "system", "content": system_text(request)}, {"role": "user", "content": facts_text(request)}]
