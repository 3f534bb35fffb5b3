"""The one thing to work on next, and the fundamentals in words (bars, hands, stops, tempo).

A teacher names the fundamentals before the expression: the wrong and missed notes (in the bar with the most),
then stops and restarts, a tempo far below the marking, a tempo that drags, the balance of the hands, the dynamic
markings, and only then the weakest expressive aspect. :func:`next_focus` makes that choice once, for the first
result page and for the feedback text alike.

It works on the result's plain dicts (``PerformanceResult.fundamentals`` and ``.bars``, written by
``pianocoach.repertoire.fundamentals``); it imports neither the repertoire nor the scoring. Hands and dynamics are
only ever ``None`` or measured (MIDI input): when they are ``None`` nothing is said about them. An error's hand is
named from the score: the bar row's errors carry the written note's staff (``"staff"``: 1 = right hand, 2 = left).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pianocoach.rating_scales import SCALES, Scale

SLOW_RATIO = 0.8  # a tempo below this share of the marking is worth a word (it costs the mark too)
HAND_LOW_DB = 0.0  # right hand not louder than the left: the melody does not lead
HAND_HIGH_DB = 12.0  # right hand this much louder than the left: the accompaniment is lost
DYNAMICS_LOW = 0.5  # less than half of the marked changes played the right way
UNSTEADY_PCT = 15.0  # free play: local tempo spread beyond this (%)
NAMED_BARS = 2  # bars named in the feedback for wrong and missed notes
NAMED_STOPS = 3

# the order a teacher names them in (first = the one thing to work on next)
KINDS = ("notes", "stops", "slow", "dragging", "rushing", "unsteady", "hands", "dynamics", "expression")

FOCUS_LINE = {
    "en": {
        "notes": "Work on: bar {bar} notes",
        "notes_nobar": "Work on: right notes",
        "stops": "Work on: flow at bar {bar}",
        "stops_nobar": "Work on: keep going",
        "slow": "Work on: tempo ({pct:.0f}%)",
        "dragging": "Work on: hold tempo",
        "rushing": "Work on: don't rush",
        "unsteady": "Work on: steady pulse",
        "hands": "Work on: hand balance",
        "dynamics": "Work on: dynamic marks",
        "expression": "Work on: {topic}",
    },
    "zh": {
        "notes": "重点：第{bar}小节的音",
        "notes_nobar": "重点：弹对音",
        "stops": "重点：第{bar}小节别停",
        "stops_nobar": "重点：不要停顿",
        "slow": "重点：速度（{pct:.0f}%）",
        "dragging": "重点：别越弹越慢",
        "rushing": "重点：别越弹越快",
        "unsteady": "重点：稳定节拍",
        "hands": "重点：左右手平衡",
        "dynamics": "重点：力度记号",
        "expression": "重点：{topic}",
    },
}

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
ERROR_WORDS_EN = {
    "wrong": ("wrong note", "wrong notes"),
    "missed": ("missed note", "missed notes"),
    "extra": ("extra note", "extra notes"),
}
ERROR_WORDS_ZH = {"wrong": "错音", "missed": "漏音", "extra": "多弹的音"}
HAND_WORDS = {"en": {1: "right hand", 2: "left hand", 0: "both hands"}, "zh": {1: "右手", 2: "左手", 0: "双手"}}

SENTENCES = {
    "en": {
        "bar_errors": "Bar {bar}{hand}: {errors}.",
        "notes_nobar": "Some notes were wrong or missed ({pct:.0f} % right).",
        "more_bars": "{n} bars in all had wrong or missed notes.",
        "notes_tip": "Practise bar {bar} slowly{alone}, then play it on into the next bar.",
        "notes_tip_nobar": "Practise the passages with slips slowly before playing them up to tempo.",
        "alone": ", {hand} alone",
        "stopped": "You stopped before {bars}.",
        "stopped_many": "You stopped {n} times, first before bar {bar}.",
        "stopped_free": "You stopped {times}.",
        "restarted": "You went back from bar {from_bar} to bar {to_bar}.",
        "restarted_free": "You went back and replayed a passage {times}.",
        "stops_tip": "Practise the bars leading into bar {bar} until you can play through without stopping.",
        "stops_tip_nobar": "Keep going through slips: a wrong note costs less than a stop.",
        "slow": "You played at {played:.0f} quarter notes a minute, {pct:.0f} % of the marked {marked:.0f}: "
        "raise it step by step with a metronome.",
        "dragging": "The tempo slowed by {pct:.0f} % towards the end: keep the pulse going to the last bar.",
        "rushing": "The tempo sped up by {pct:.0f} % towards the end: hold the pulse back.",
        "unsteady": "Your tempo varied by {pct:.0f} % from passage to passage: keep a steady pulse.",
        "hands_left": "The left hand was as loud as the right or louder ({db:+.0f} dB): let the right-hand melody "
        "sing over it.",
        "hands_right": "The left hand was {db:.0f} dB quieter than the right: let the accompaniment be heard a "
        "little more.",
        "dynamics": "The dynamic markings did not come out: only {pct:.0f} % of the marked changes went the right way.",
        "clean": "Every note was right and you kept going.",
    },
    "zh": {
        "bar_errors": "第{bar}小节{hand}：{errors}。",
        "notes_nobar": "有些音弹错或漏掉了（{pct:.0f}% 正确）。",
        "more_bars": "一共有 {n} 个小节弹错或漏音。",
        "notes_tip": "把第{bar}小节{alone}放慢练习，再连到下一小节。",
        "notes_tip_nobar": "先把出错的段落放慢练熟，再弹回原速。",
        "alone": "的{hand}单独",
        "stopped": "你在第{bars}小节前停了下来。",
        "stopped_many": "你停了 {n} 次，第一次在第{bar}小节前。",
        "stopped_free": "你停了 {times}。",
        "restarted": "你从第{from_bar}小节回到第{to_bar}小节重弹。",
        "restarted_free": "你回头重弹了一段（{times}）。",
        "stops_tip": "把进入第{bar}小节的几小节练到能一口气弹过去。",
        "stops_tip_nobar": "弹错了也继续往下弹：错一个音比停下来代价小。",
        "slow": "你的速度是每分钟 {played:.0f} 个四分音符，只有标记速度 {marked:.0f} 的 {pct:.0f}%："
        "用节拍器一步步提速。",
        "dragging": "越到后面越慢（慢了 {pct:.0f}%）：把节拍一直保持到最后一小节。",
        "rushing": "越到后面越快（快了 {pct:.0f}%）：稳住节拍。",
        "unsteady": "你的速度前后波动了 {pct:.0f}%：保持稳定的节拍。",
        "hands_left": "左手和右手一样响甚至更响（{db:+.0f} dB）：让右手的旋律浮在上面。",
        "hands_right": "左手比右手轻了 {db:.0f} dB：让伴奏再清楚一点。",
        "dynamics": "力度记号没有弹出来：只有 {pct:.0f}% 的强弱变化方向正确。",
        "clean": "所有的音都弹对了，而且没有停顿。",
    },
}


@dataclass(frozen=True)
class BarErrors:
    """The wrong, missed and extra notes of one printed bar (a bar played twice adds up)."""

    bar: str
    wrong: int = 0
    missed: int = 0
    extra: int = 0
    staffs: frozenset[int] = frozenset()  # the staffs of its errors, where the bar rows carry them

    @property
    def slips(self) -> int:
        """Wrong and missed notes: what the notes advice is about (an extra note alone is often a brush)."""
        return self.wrong + self.missed


@dataclass(frozen=True)
class Focus:
    """One thing to work on: ``kind`` (one of ``KINDS``), the bar it is about (or None) and its numbers."""

    kind: str
    bar: str | None = None
    numbers: dict = field(default_factory=dict)
    scale: Scale | None = None  # kind "expression": the weakest judged scale

    def line(self, language: str) -> str:
        """The short line for the first result page ("Work on: bar 3 notes")."""
        words = FOCUS_LINE["zh" if language == "zh" else "en"]
        if self.kind in ("notes", "stops") and self.bar is None:
            return words[self.kind + "_nobar"]
        if self.kind == "expression":
            return words["expression"].format(topic=self.scale.topic(language) if self.scale else "")
        return words[self.kind].format(bar=self.bar, **self.numbers)


def judged_scales(values: dict[str, float]) -> list[tuple[float, Scale]]:
    """(goodness 0..1, scale) for every scale with a better end, best first; a scale missing from ``values`` (one the
    input cannot show, :mod:`pianocoach.scoring.input_limits`) is not judged."""
    rated: list[tuple[float, Scale]] = []
    for scale in SCALES:
        if scale.better and scale.name in values:
            good = scale.goodness(values[scale.name])
            assert good is not None  # a scale with a better end always has a goodness
            rated.append((good, scale))
    return sorted(rated, key=lambda item: -item[0])


def weakest_scale(values: dict[str, float]) -> Scale | None:
    """The judged scale the expression advice works on first (the templates' first suggestion)."""
    judged = judged_scales(values)
    return judged[-1][1] if judged else None


def bar_errors(bars: list[dict] | None) -> list[BarErrors]:
    """Per printed bar with wrong, missed or extra notes, in the order first played."""
    found: dict[str, dict] = {}
    for row in bars or []:
        errors = row.get("errors") or {}
        counts = {kind: len(errors.get(kind) or []) for kind in ("wrong", "missed", "extra")}
        if not any(counts.values()):
            continue
        item = found.setdefault(str(row["bar"]), {"wrong": 0, "missed": 0, "extra": 0, "staffs": set()})
        for kind, n in counts.items():
            item[kind] += n
        for kind in ("wrong", "missed", "extra"):
            item["staffs"].update(int(e["staff"]) for e in errors.get(kind) or [] if e.get("staff") in (1, 2))
    return [
        BarErrors(bar, item["wrong"], item["missed"], item["extra"], frozenset(item["staffs"]))
        for bar, item in found.items()
    ]


def worst_bars(bars: list[dict] | None) -> list[BarErrors]:
    """The bars with wrong or missed notes, most first (ties: the one played first)."""
    tally = [b for b in bar_errors(bars) if b.slips]
    return sorted(tally, key=lambda b: -b.slips)  # sorted() is stable: ties keep the played order


def focuses(fundamentals: dict | None, bars: list[dict] | None = None) -> list[Focus]:
    """Every fundamental worth a word, in the order a teacher names them (empty: nothing to say)."""
    f = fundamentals or {}
    out: list[Focus] = []
    notes = f.get("notes")
    if notes and (notes.get("wrong") or 0) + (notes.get("missed") or 0) > 0:
        worst = worst_bars(bars)
        out.append(Focus("notes", worst[0].bar if worst else None, {"pct": notes.get("accuracy_pct") or 0.0}))
    stops, restarts = f.get("stops") or [], f.get("restarts") or []
    if stops or restarts:
        bar = stops[0].get("bar") if stops else restarts[0].get("from_bar")
        out.append(Focus("stops", None if bar is None else str(bar)))
    tempo = f.get("tempo") or {}
    ratio = tempo.get("ratio_to_marking")
    if ratio is not None and ratio < SLOW_RATIO and tempo.get("played_qpm") and tempo.get("marked_qpm"):
        numbers = {"pct": 100.0 * ratio, "played": tempo["played_qpm"], "marked": tempo["marked_qpm"]}
        out.append(Focus("slow", numbers=numbers))
    change = tempo.get("change_pct")
    if tempo.get("trend") in ("dragging", "rushing") and change is not None:
        out.append(Focus(str(tempo["trend"]), numbers={"pct": abs(change)}))
    spread = tempo.get("steadiness_pct")
    if f.get("mode") == "free" and spread is not None and spread > UNSTEADY_PCT:
        out.append(Focus("unsteady", numbers={"pct": spread}))
    hands = f.get("hands")
    if hands and hands.get("right_minus_left_db") is not None:
        db = float(hands["right_minus_left_db"])
        if db < HAND_LOW_DB or db > HAND_HIGH_DB:
            out.append(Focus("hands", numbers={"db": db}))
    dynamics = f.get("dynamics")
    if dynamics and dynamics.get("agreement") is not None and dynamics["agreement"] < DYNAMICS_LOW:
        out.append(Focus("dynamics", numbers={"pct": 100.0 * dynamics["agreement"]}))
    return out


def next_focus(fundamentals: dict | None, bars: list[dict] | None, values: dict[str, float]) -> Focus:
    """The one thing to work on next: the first fundamental worth a word, else the weakest expressive aspect."""
    found = focuses(fundamentals, bars)
    return found[0] if found else Focus("expression", scale=weakest_scale(values))


def hands_measured(fundamentals: dict | None) -> bool:
    """Did the take measure the hands (MIDI input with both hands)? Only then is a hand named."""
    return bool(fundamentals and fundamentals.get("hands"))


def _count(n: int, kind: str, lang: str) -> str:
    if lang == "zh":
        return f"{n} 个{ERROR_WORDS_ZH[kind]}"
    one, many = ERROR_WORDS_EN[kind]
    if n == 1:
        return ("an " if one[0] in "aeiou" else "a ") + one
    return f"{NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else n} {many}"


def _times(n: int, lang: str) -> str:
    if lang == "zh":
        return f"{n} 次"
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _join(items: list[str], lang: str) -> str:
    if lang == "zh":
        return "，".join(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _hand(errors: BarErrors, fundamentals: dict | None) -> int | None:
    """1 right, 2 left, 0 both; None when unknown. The hand comes from the score's staff of the notes in error,
    so audio input names it too (unlike the balance of the hands, which needs trusted velocities)."""
    if not errors.staffs:
        return None
    return next(iter(errors.staffs)) if len(errors.staffs) == 1 else 0


def _notes_sentences(
    focus: Focus, fundamentals: dict | None, bars: list[dict] | None, lang: str, tip: bool
) -> list[str]:
    s = SENTENCES[lang]
    worst = worst_bars(bars)
    if not worst:
        return [s["notes_nobar"].format(pct=focus.numbers.get("pct", 0.0))] + ([s["notes_tip_nobar"]] if tip else [])
    out = []
    for errors in worst[:NAMED_BARS]:
        counts = [
            _count(getattr(errors, kind), kind, lang) for kind in ("wrong", "missed", "extra") if getattr(errors, kind)
        ]
        hand = _hand(errors, fundamentals)
        where = (
            "" if hand is None else (f", {HAND_WORDS['en'][hand]}" if lang == "en" else f"（{HAND_WORDS['zh'][hand]}）")
        )
        out.append(s["bar_errors"].format(bar=errors.bar, hand=where, errors=_join(counts, lang)))
    if len(worst) > NAMED_BARS:
        out.append(s["more_bars"].format(n=len(worst)))
    if tip:
        hand = _hand(worst[0], fundamentals)
        alone = "" if hand in (None, 0) else s["alone"].format(hand=HAND_WORDS[lang][hand])
        out.append(s["notes_tip"].format(bar=worst[0].bar, alone=alone))
    return out


def _stops_sentences(fundamentals: dict, lang: str, tip: bool) -> list[str]:
    s = SENTENCES[lang]
    stops = fundamentals.get("stops") or []
    restarts = fundamentals.get("restarts") or []
    out = []
    named = [str(stop["bar"]) for stop in stops if stop.get("bar") is not None]
    if stops and len(named) == len(stops):
        if len(named) <= NAMED_STOPS:
            unique = list(dict.fromkeys(named))
            if lang == "zh":
                where = "、".join(unique)
            else:
                where = ("bar " if len(unique) == 1 else "bars ") + _join(unique, lang)
            out.append(s["stopped"].format(bars=where))
        else:
            out.append(s["stopped_many"].format(n=len(stops), bar=named[0]))
    elif stops:
        out.append(s["stopped_free"].format(times=_times(len(stops), lang)))
    named_restarts = [r for r in restarts if r.get("from_bar") is not None and r.get("to_bar") is not None]
    if restarts and len(named_restarts) == len(restarts):
        out.extend(s["restarted"].format(**r) for r in named_restarts[:NAMED_STOPS])
    elif restarts:
        out.append(s["restarted_free"].format(times=_times(len(restarts), lang)))
    if tip:
        first = named[0] if named else named_restarts[0]["from_bar"] if named_restarts else None
        out.append(s["stops_tip"].format(bar=first) if first is not None else s["stops_tip_nobar"])
    return out


def focus_sentences(
    focus: Focus, fundamentals: dict | None, bars: list[dict] | None, language: str, tip: bool = True
) -> list[str]:
    """One fundamental in words (``tip``: with what to practise). Nothing for the expression: the templates say it."""
    lang = "zh" if language == "zh" else "en"
    s = SENTENCES[lang]
    if focus.kind == "notes":
        return _notes_sentences(focus, fundamentals, bars, lang, tip)
    if focus.kind == "stops":
        return _stops_sentences(fundamentals or {}, lang, tip)
    if focus.kind == "hands":
        return [s["hands_left" if focus.numbers["db"] < HAND_LOW_DB else "hands_right"].format(**focus.numbers)]
    if focus.kind in s:
        return [s[focus.kind].format(**focus.numbers)]
    return []


def fundamentals_sentences(
    fundamentals: dict | None, bars: list[dict] | None, language: str, limit: int = 2
) -> list[str]:
    """The fundamentals for the feedback text: the first ``limit`` worth a word (the first with what to practise),
    or a word of praise for a take with a score that had every note right and no stop; nothing without them."""
    found = focuses(fundamentals, bars)
    if not found:
        notes = (fundamentals or {}).get("notes")
        clean = notes is not None and not (notes.get("wrong") or notes.get("missed") or notes.get("extra"))
        return [SENTENCES["zh" if language == "zh" else "en"]["clean"]] if clean else []
    out: list[str] = []
    for k, focus in enumerate(found[:limit]):
        out.extend(focus_sentences(focus, fundamentals, bars, language, tip=k == 0))
    return out
