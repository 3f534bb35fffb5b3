"""What the display shows in each state, as plain data (:class:`Screen`); ``display.py`` draws it.

The result is several pages the button steps through: the overall mark (with the change against the
last performance), the 19 scales as bars between their two end words, the plain measurements, then the
feedback text. How many bars, measurements or lines fit on a page depends on the display, so the page
builders take the capacity from the layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pianocoach.rating_scales import HIGH, LOW, SCALES
from pianocoach.scoring.result import PerformanceResult

WORDS = {
    "en": {
        "press": "Press to start",
        "last": "Last: {mark:.0f}/100 ({when})",
        "none_yet": "No performance yet",
        "listening": "Listening {clock}",
        "notes": "{n} notes",
        "so_far": "So far {mark:.0f}",
        "waiting": "Play when ready",
        "scoring": "Scoring",
        "scoring_line": "Working out the result...",
        "result": "Result",
        "change": "{sign}{delta:.0f} vs last",
        "first": "first performance",
        "scales": "Scales",
        "measures": "Measurements",
        "feedback": "Feedback",
        "problem": "Problem",
        "cancelled": "Cancelled",
        "stopped": "Stopped",
        "idle_hint": "(press: start)",
        "weakest": "watch {topic}",
        "writing": "writing... ({n})",
        "model": "model {id}",
    },
    "zh": {
        "press": "按键开始",
        "last": "上次：{mark:.0f}/100（{when}）",
        "none_yet": "还没有演奏记录",
        "listening": "聆听中 {clock}",
        "notes": "{n} 个音",
        "so_far": "目前 {mark:.0f}",
        "waiting": "准备好就开始弹",
        "scoring": "评分中",
        "scoring_line": "正在计算结果……",
        "result": "结果",
        "change": "比上次 {sign}{delta:.0f}",
        "first": "第一次演奏",
        "scales": "各项",
        "measures": "测量",
        "feedback": "建议",
        "problem": "问题",
        "cancelled": "已取消",
        "stopped": "已停止",
        "idle_hint": "（按键开始）",
        "weakest": "注意{topic}",
        "writing": "正在写……（{n}）",
        "model": "模型 {id}",
    },
}


@dataclass(frozen=True)
class Bar:
    low: str  # the word at the left end
    high: str  # the word at the right end
    position: float  # 0 (low end) .. 1 (high end)


@dataclass(frozen=True)
class Screen:
    state: str  # idle, listening, scoring, result, message
    title: str
    lines: tuple[str, ...] = ()
    big: str = ""  # one large figure (the overall mark)
    bars: tuple[Bar, ...] = ()
    meter: float | None = None  # input level 0..1 (listening)
    page: tuple[int, int] | None = None  # (page, pages), 1-based
    language: str = "en"

    def text(self) -> str:
        """The frame as text (the terminal display, logs and the image display's index)."""
        parts = [self.title + (f"  [{self.page[0]}/{self.page[1]}]" if self.page else "")]
        if self.big:
            parts.append(self.big)
        if self.meter is not None:
            parts.append("level " + "#" * round(10 * self.meter) + "." * (10 - round(10 * self.meter)))
        parts.extend(self.lines)
        for bar in self.bars:
            mark = round(10 * bar.position)
            parts.append(f"{bar.low} {'-' * mark}|{'-' * (10 - mark)} {bar.high}")
        return "\n".join(parts)


@dataclass(frozen=True)
class Capacity:
    """How much fits on one page of the display (from the layout)."""

    lines: int = 4
    bars: int = 3
    wrap: Callable[[str], list[str]] = field(default=lambda text: [text])  # text -> lines that fit the width


def words(language: str) -> dict[str, str]:
    return WORDS["zh" if language == "zh" else "en"]


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def ago(seconds: float, language: str) -> str:
    minutes = int(seconds // 60)
    if language == "zh":
        return (
            "刚才"
            if minutes < 1
            else f"{minutes} 分钟前"
            if minutes < 60
            else f"{minutes // 60} 小时前"
            if minutes < 1440
            else f"{minutes // 1440} 天前"
        )
    return (
        "just now"
        if minutes < 1
        else f"{minutes} min ago"
        if minutes < 60
        else f"{minutes // 60} h ago"
        if minutes < 1440
        else f"{minutes // 1440} d ago"
    )


def idle_screen(
    language: str, last_mark: float | None = None, last_age_s: float = 0.0, note: str = "", bundle_id: str = ""
) -> Screen:
    w = words(language)
    lines = [
        w["press"],
        w["last"].format(mark=last_mark, when=ago(last_age_s, language)) if last_mark is not None else w["none_yet"],
    ]
    if note:
        lines.append(note)
    if bundle_id:
        lines.append(w["model"].format(id=bundle_id))
    return Screen("idle", "PianoCoach", tuple(lines), language=language)


def listening_screen(
    language: str, elapsed_s: float, level: float, notes: int, mark: float | None = None, hint: str = ""
) -> Screen:
    w = words(language)
    counted = w["notes"].format(n=notes)
    lines = [counted if mark is None else f"{counted} · {w['so_far'].format(mark=mark)}", hint or w["waiting"]]
    return Screen(
        "listening",
        w["listening"].format(clock=clock(elapsed_s)),
        tuple(lines),
        meter=min(1.0, max(0.0, level)),
        language=language,
    )


def live_hint(language: str, scores) -> str:
    """One short line while playing: the judged scale that is weakest so far."""
    w = words(language)
    judged = [
        (good, scale)
        for scale, value in zip(SCALES, scores)
        if scale.better and (good := scale.goodness(float(value))) is not None
    ]
    weakest = min(judged, key=lambda item: item[0])[1]
    return w["weakest"].format(topic=weakest.topic(language))


def scoring_screen(language: str) -> Screen:
    w = words(language)
    return Screen("scoring", w["scoring"], (w["scoring_line"],), language=language)


def feedback_screen(language: str, sentences: list[str], pieces: int, capacity: Capacity) -> Screen:
    """While the feedback is written: the checked sentences so far (the newest lines that fit) and a
    progress line counting the model's text pieces."""
    w = words(language)
    text = ("" if language == "zh" else " ").join(sentences)
    lines = capacity.wrap(text) if text else []
    room = max(1, capacity.lines - 1)
    return Screen("scoring", w["feedback"], tuple(lines[-room:]) + (w["writing"].format(n=pieces),), language=language)


def message_screen(language: str, text: str, capacity: Capacity, title: str = "") -> Screen:
    w = words(language)
    lines = capacity.wrap(text)[: capacity.lines]
    return Screen("message", title or w["problem"], tuple(lines), language=language)


def result_pages(result: PerformanceResult, previous_mark: float | None, capacity: Capacity) -> list[Screen]:
    """Overall, scales, measurements, feedback: the pages the button steps through after a performance."""
    lang = result.language
    w = words(lang)
    if previous_mark is None:
        change = w["first"]
    else:
        delta = result.overall - previous_mark
        change = w["change"].format(sign="+" if delta >= 0 else "-", delta=abs(delta))
    pages = [
        Screen(
            "result",
            w["result"],
            (f"{change} · {clock(result.duration_s)}",),
            big=f"{result.overall:.0f}/100",
            language=lang,
        )
    ]

    bars = [Bar(*scale.ends(lang), (value - LOW) / (HIGH - LOW)) for scale, value in zip(SCALES, result.scale_values)]
    per_page = max(1, capacity.bars)
    chunks = [bars[i : i + per_page] for i in range(0, len(bars), per_page)]
    pages += [Screen("result", w["scales"], bars=tuple(chunk), language=lang) for chunk in chunks]

    measure_lines = [_measure_line(item, lang) for item in result.measures.values()]
    pages += _text_pages(w["measures"], measure_lines, capacity, lang)
    pages += _text_pages(w["feedback"], capacity.wrap(result.feedback), capacity, lang)
    return [
        Screen(p.state, p.title, p.lines, p.big, p.bars, p.meter, (i + 1, len(pages)), lang)
        for i, p in enumerate(pages)
    ]


def _measure_line(item: dict, language: str) -> str:
    label = item["label_zh"] if language == "zh" else item["label_en"]
    value = item["value"]
    figure = f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}" if value else "0"
    unit = item["unit"]
    suffix = "%" if unit == "%" else "" if unit in ("notes", "ratio") else f" {unit}"
    return f"{label} {figure}{suffix}"


def _text_pages(title: str, lines: list[str], capacity: Capacity, language: str) -> list[Screen]:
    per_page = max(1, capacity.lines)
    return [
        Screen("result", title, tuple(lines[i : i + per_page]), language=language)
        for i in range(0, len(lines), per_page)
    ] or [Screen("result", title, (), language=language)]
