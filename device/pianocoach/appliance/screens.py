"""What the display shows in each state, as plain data (:class:`Screen`); ``display.py`` draws it.

The result is several pages the button steps through: the overall mark (with the change against the
last performance) and the one thing to work on next, the notes (accuracy, wrong/missed/extra, stops, restarts; in
free play stops, restarts and tempo steadiness), the bar map (each bar as played a small box, filled where notes
went wrong, crossed where the playing stopped before it), the 19 scales as bars between their two end words, the
plain measurements, then the feedback text. The notes page and the bar map appear only when there is data for
them. How many bars, measurements or lines fit on a page depends on the display, so the page
builders take the capacity from the layout.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace

from pianocoach.feedback.fundamentals_advice import next_focus
from pianocoach.rating_scales import HIGH, LOW, SCALES
from pianocoach.scoring.result import PerformanceResult

WORDS = {
    "en": {
        "press": "Press to start",
        "pair_title": "Pair a browser",
        "pair_text": "Code {code}. Press: allow. Hold: refuse.",
        "pair_allowed": "Browser allowed: type the code {code} there.",
        "last": "Last: {mark:.0f}/100 ({when})",
        "none_yet": "No performance yet",
        "listening": "Listening {clock}",
        "notes": "{n} notes",
        "bar": "Bar {bar}",
        "so_far": "So far {mark:.0f}",
        "waiting": "Play when ready",
        "scoring": "Scoring",
        "scoring_line": "Working out the result...",
        "result": "Result",
        "change": "{sign}{delta:.0f} vs last",
        "first": "first performance",
        "scales": "Scales",
        "measures": "Measurements",
        "unknown": "unknown",
        "feedback": "Feedback",
        "problem": "Problem",
        "cancelled": "Cancelled",
        "practising": "Practising {title}",
        "recognising": "Recognising the piece again",
        "stopped": "Stopped",
        "idle_hint": "(press: start)",
        "weakest": "watch {topic}",
        "writing": "writing... ({n})",
        "model": "model {id}",
        "notes_title": "Notes",
        "flow_title": "Flow",
        "skipped": "Skipped bars {n}",
        "tempo_marked": "Tempo {played:.0f} of {marked:.0f}",
        "tempo": "Tempo {played:.0f}/min",
        "steadiness": "Tempo spread {pct:.0f}%",
        "map": "Bars {first}-{last}",
        "map_slips": "Bars with slips",
        "map_more": "+{n} more",
    },
    "zh": {
        "press": "按键开始",
        "pair_title": "配对浏览器",
        "pair_text": "配对码 {code}。按键：允许；长按：拒绝。",
        "pair_allowed": "已允许：请在浏览器中输入 {code}。",
        "last": "上次：{mark:.0f}/100（{when}）",
        "none_yet": "还没有演奏记录",
        "listening": "聆听中 {clock}",
        "notes": "{n} 个音",
        "bar": "第{bar}小节",
        "so_far": "目前 {mark:.0f}",
        "waiting": "准备好就开始弹",
        "scoring": "评分中",
        "scoring_line": "正在计算结果……",
        "result": "结果",
        "change": "比上次 {sign}{delta:.0f}",
        "first": "第一次演奏",
        "scales": "各项",
        "measures": "测量",
        "unknown": "未知",
        "feedback": "建议",
        "problem": "问题",
        "cancelled": "已取消",
        "practising": "练习：{title}",
        "recognising": "重新自动识别曲目",
        "stopped": "已停止",
        "idle_hint": "（按键开始）",
        "weakest": "注意{topic}",
        "writing": "正在写……（{n}）",
        "model": "模型 {id}",
        "notes_title": "音符",
        "flow_title": "流畅",
        "skipped": "跳过 {n} 小节",
        "tempo_marked": "速度 {played:.0f}/{marked:.0f}",
        "tempo": "速度 {played:.0f}/分",
        "steadiness": "速度波动 {pct:.0f}%",
        "map": "小节 {first}-{last}",
        "map_slips": "出错的小节",
        "map_more": "另有 {n}",
    },
}


# the notes page's first lines: with a score, and in free play (fields: pct, n, wrong, missed, extra, stops, restarts)
NOTES_LINES = {
    "en": {
        "score": (
            "Right {pct:.0f}% of {n}",
            "Wrong {wrong} · missed {missed}",
            "Extra {extra} · stops {stops}",
            "Restarts {restarts}",
        ),
        "free": ("Stops {stops} · restarts {restarts}",),
    },
    "zh": {
        "score": (
            "正确 {pct:.0f}%（共 {n}）",
            "错 {wrong} · 漏 {missed} · 多 {extra}",
            "停顿 {stops} · 重弹 {restarts}",
        ),
        "free": ("停顿 {stops} · 重弹 {restarts}",),
    },
}
TRENDS = {
    "en": {"steady": "Tempo steady", "dragging": "Tempo dragging", "rushing": "Tempo rushing"},
    "zh": {"steady": "速度稳定", "dragging": "越弹越慢", "rushing": "越弹越快"},
}


@dataclass(frozen=True)
class Bar:
    low: str  # the word at the left end
    high: str  # the word at the right end
    position: float | None  # 0 (low end) .. 1 (high end); None: the input cannot show it (a dotted track)


@dataclass(frozen=True)
class Cell:
    """One bar as played on the bar map."""

    bar: str  # the printed bar number
    errors: int = 0  # wrong and missed notes (the box is filled)
    stop: bool = False  # the playing stopped before (or in) it (the box is crossed)
    extra: int = 0  # extra notes (a dot: a microphone transcription hears some that were never played)


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
    cells: tuple[Cell, ...] = ()  # the bar map: a grid of small boxes

    def text(self) -> str:
        """The frame as text (the terminal display, logs and the image display's index)."""
        parts = [self.title + (f"  [{self.page[0]}/{self.page[1]}]" if self.page else "")]
        if self.big:
            parts.append(self.big)
        if self.meter is not None:
            parts.append("level " + "#" * round(10 * self.meter) + "." * (10 - round(10 * self.meter)))
        parts.extend(self.lines)
        for bar in self.bars:
            if bar.position is None:
                parts.append(f"{bar.low} ----?------ {bar.high}")
                continue
            mark = round(10 * bar.position)
            parts.append(f"{bar.low} {'-' * mark}|{'-' * (10 - mark)} {bar.high}")
        for start in range(0, len(self.cells), MAP_TEXT_WIDTH):  # '.' clean, '#' slips, 'x' stop, 'X' both, ':' extra
            row = self.cells[start : start + MAP_TEXT_WIDTH]
            marks = "".join(
                ("X" if c.errors else "x") if c.stop else "#" if c.errors else ":" if c.extra else "." for c in row
            )
            parts.append(f"{row[0].bar:>4} {marks}")
        return "\n".join(parts)


MAP_TEXT_WIDTH = 16  # bar map cells a line in the text form


@dataclass(frozen=True)
class Capacity:
    """How much fits on one page of the display (from the layout)."""

    lines: int = 4
    bars: int = 3
    cells: int = 160  # bar map boxes that fit at the smallest legible size
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


def piece_line(language: str, piece: dict | None) -> str:
    """Where the player is and in which piece, while listening ("Bar 5 · Minuet in G"; the bar first, so a long
    title is what the display cuts); "" before a piece is recognised."""
    if not piece or piece.get("id") is None:
        return ""
    title = str(piece["title"])
    if piece.get("bar") is None:
        return title
    return f"{words(language)['bar'].format(bar=piece['bar'])} · {title}"


def live_hint(language: str, scores, unknown: Collection[str] = ()) -> str:
    """One short line while playing: the judged scale that is weakest so far (``unknown``: scales the input cannot
    show, never named)."""
    w = words(language)
    judged = [
        (good, scale)
        for scale, value in zip(SCALES, scores)
        if scale.better and scale.name not in unknown and (good := scale.goodness(float(value))) is not None
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


def pairing_screen(language: str, code: str, capacity: Capacity) -> Screen:
    """The companion page's pairing code, for a press to allow (a hold refuses)."""
    w = words(language)
    lines = capacity.wrap(w["pair_text"].format(code=code))[: capacity.lines]
    return Screen("pairing", w["pair_title"], tuple(lines), language=language)


def result_pages(result: PerformanceResult, previous_mark: float | None, capacity: Capacity) -> list[Screen]:
    """Overall with the one thing to work on, notes, bar map, scales, measurements, feedback: the pages the button
    steps through after a performance (notes and bar map only when there is data for them)."""
    lang = result.language
    w = words(lang)
    if previous_mark is None:
        change = w["first"]
    else:
        delta = result.overall - previous_mark
        change = w["change"].format(sign="+" if delta >= 0 else "-", delta=abs(delta))
    shown = result.shown_scales()
    values = {name: value for name, value in shown.items() if value is not None}
    focus = next_focus(result.fundamentals, result.bars, values)
    if capacity.lines >= 4:  # the mark takes two lines; the change and the one thing to work on below it
        first = Screen(
            "result",
            w["result"],
            (f"{change} · {clock(result.duration_s)}", focus.line(lang)),
            big=f"{result.overall:.0f}/100",
            language=lang,
        )
    else:  # taller text (Chinese on 128x64): the change moves into the title
        first = Screen(
            "result", f"{w['result']} {change}", (focus.line(lang),), big=f"{result.overall:.0f}/100", language=lang
        )
    pages = [first]
    if result.fundamentals:
        title = w["notes_title"] if result.fundamentals.get("notes") else w["flow_title"]
        lines = notes_lines(result.fundamentals, lang)[: max(1, capacity.lines)]  # one page, the first lines
        pages.append(Screen("result", title, tuple(lines), language=lang))
    if result.bars:
        stops = (result.fundamentals or {}).get("stops")
        pages.append(bar_map_screen(result.bars, lang, capacity, stops))

    bars = [Bar(*scale.ends(lang), _position(shown[scale.name])) for scale in SCALES]
    per_page = max(1, capacity.bars)
    chunks = [bars[i : i + per_page] for i in range(0, len(bars), per_page)]
    pages += [Screen("result", w["scales"], bars=tuple(chunk), language=lang) for chunk in chunks]

    measure_lines = [_measure_line(item, lang) for item in result.measures.values()]
    pages += _text_pages(w["measures"], measure_lines, capacity, lang)
    pages += _text_pages(w["feedback"], capacity.wrap(result.feedback), capacity, lang)
    return [replace(p, page=(i + 1, len(pages))) for i, p in enumerate(pages)]


def notes_lines(fundamentals: dict, language: str) -> list[str]:
    """The notes page, most important first: accuracy and wrong/missed/extra (with a score), stops and restarts,
    skipped bars, tempo (against the marking where there is one), and in free play its steadiness and trend."""
    w = words(language)
    notes = fundamentals.get("notes")
    counts = {"stops": len(fundamentals.get("stops") or []), "restarts": len(fundamentals.get("restarts") or [])}
    if notes:
        counts.update(pct=notes["accuracy_pct"], n=notes["score_notes"])
        counts.update({kind: notes[kind] for kind in ("wrong", "missed", "extra")})
    forms = NOTES_LINES["zh" if language == "zh" else "en"]["score" if notes else "free"]
    lines = [form.format(**counts) for form in forms]
    if fundamentals.get("skipped_bars"):
        lines.append(w["skipped"].format(n=len(fundamentals["skipped_bars"])))
    tempo = fundamentals.get("tempo") or {}
    if tempo.get("played_qpm") and tempo.get("marked_qpm"):
        lines.append(w["tempo_marked"].format(played=tempo["played_qpm"], marked=tempo["marked_qpm"]))
    elif tempo.get("played_qpm"):
        lines.append(w["tempo"].format(played=tempo["played_qpm"]))
    if notes:  # with a score the tempo against the marking says it; steadiness is free play's measure
        return lines
    if tempo.get("steadiness_pct") is not None:
        lines.append(w["steadiness"].format(pct=tempo["steadiness_pct"]))
    trends = TRENDS["zh" if language == "zh" else "en"]
    if tempo.get("change_pct") is not None and tempo.get("trend") in trends:
        lines.append(trends[tempo["trend"]])
    return lines


def bar_map_screen(bars: list[dict], language: str, capacity: Capacity, stops: list[dict] | None = None) -> Screen:
    """The bars as played as a grid of boxes. When more than fit, only the bars with wrong or missed notes or a
    stop (and, if even those are too many, the first of them with a count of the rest in the title).
    ``stops``: the take's (``fundamentals["stops"]``): each marks the first bar of its number played after it."""
    w = words(language)
    stopped = {k for k, row in enumerate(bars) if row.get("stops")}
    for stop in stops or []:
        later = [
            k
            for k, row in enumerate(bars)
            if str(row["bar"]) == str(stop.get("bar")) and row.get("start_s", 0.0) >= stop.get("time_s", 0.0) - 1e-3
        ]
        if later:
            stopped.add(later[0])
    cells = [
        Cell(
            str(row["bar"]),
            sum(len((row.get("errors") or {}).get(kind) or []) for kind in ("wrong", "missed")),
            k in stopped,
            len((row.get("errors") or {}).get("extra") or []),
        )
        for k, row in enumerate(bars)
    ]
    room = max(1, capacity.cells)
    if len(cells) <= room:
        title = w["map"].format(first=cells[0].bar, last=cells[-1].bar)
        return Screen("result", title, cells=tuple(cells), language=language)
    slips = [c for c in cells if c.errors or c.stop]
    if not slips:  # a long clean take: its first bars
        title = w["map"].format(first=cells[0].bar, last=cells[room - 1].bar)
        more = w["map_more"].format(n=len(cells) - room)
        return Screen("result", f"{title} {more}", cells=tuple(cells[:room]), language=language)
    title = w["map_slips"]
    if len(slips) > room:
        title += " " + w["map_more"].format(n=len(slips) - room)
    return Screen("result", title, cells=tuple(slips[:room]), language=language)


def _position(value: float | None) -> float | None:
    return None if value is None else (value - LOW) / (HIGH - LOW)


def _measure_line(item: dict, language: str) -> str:
    label = item["label_zh"] if language == "zh" else item["label_en"]
    value = item["value"]
    if value is None:  # the input cannot give it
        return f"{label} {words(language)['unknown']}"
    figure = f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}" if value else "0"
    unit = item["unit"]
    suffix = "%" if unit == "%" else "" if unit in ("notes", "ratio") else f" {unit}"
    about = "~" if item.get("confidence") is not None else ""  # heard by a model (the heard pedal): an estimate
    return f"{label} {about}{figure}{suffix}"


def _text_pages(title: str, lines: list[str], capacity: Capacity, language: str) -> list[Screen]:
    per_page = max(1, capacity.lines)
    return [
        Screen("result", title, tuple(lines[i : i + per_page]), language=language)
        for i in range(0, len(lines), per_page)
    ] or [Screen("result", title, (), language=language)]
