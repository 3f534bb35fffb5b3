"""The 19 PercePiano scales as the device shows them: words for both ends (English and Chinese), and
which end is better where one is.

Values are on the label scale: the mean listener rating (1..7) divided by 7, so 1/7 is the low end,
1 the high end and 4/7 the middle. The order is the PercePiano label order, which every bundle's
``labels`` must match (checked when a scorer loads).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

LOW, MID, HIGH = 1 / 7, 4 / 7, 1.0


@dataclass(frozen=True)
class Scale:
    name: str  # PercePiano's name, e.g. "Timing: stable / unstable"
    topic_en: str
    low_en: str
    high_en: str
    topic_zh: str
    low_zh: str
    high_zh: str
    better: int = 0  # +1 when the high end is better, -1 when the low end is, 0 when neither is

    def topic(self, language: str) -> str:
        return self.topic_zh if language == "zh" else self.topic_en

    def ends(self, language: str) -> tuple[str, str]:
        return (self.low_zh, self.high_zh) if language == "zh" else (self.low_en, self.high_en)

    def leaning(self, value: float, language: str = "en") -> str:
        """The end a value leans to, in words (or "balanced" near the middle)."""
        low, high = self.ends(language)
        if abs(value - MID) < 0.5 / 7:
            return "适中" if language == "zh" else f"between {low} and {high}"
        return high if value > MID else low

    def goodness(self, value: float) -> float | None:
        """0..1, 1 at the better end; None when neither end is better."""
        if not self.better:
            return None
        position = (value - LOW) / (HIGH - LOW)
        return position if self.better > 0 else 1.0 - position


SCALES: tuple[Scale, ...] = (
    Scale("Timing: stable / unstable", "timing", "stable", "unstable", "节奏", "稳定", "不稳", better=-1),
    Scale("Articulation: short / long", "articulation", "short", "long", "触键长短", "短促", "绵长"),
    Scale(
        "Articulation: soft-cushioned / hard-solid",
        "touch",
        "soft, cushioned",
        "hard, solid",
        "触键质感",
        "柔软",
        "坚实",
    ),
    Scale(
        "Pedal: sparse-dry / saturated-wet",
        "pedal amount",
        "sparse, dry",
        "saturated, wet",
        "踏板用量",
        "干净稀少",
        "饱满浓厚",
    ),
    Scale("Pedal: clean / blurred", "pedal clarity", "clean", "blurred", "踏板清晰度", "清晰", "模糊", better=-1),
    Scale("Timbre: even / colorful", "tone colour variety", "even", "colourful", "音色变化", "均匀", "多彩"),
    Scale("Timbre: shallow / rich", "tone depth", "shallow", "rich", "音色深度", "单薄", "丰满", better=+1),
    Scale("Timbre: bright / dark", "tone brightness", "bright", "dark", "音色明暗", "明亮", "暗沉"),
    Scale("Timbre: soft / loud", "loudness", "soft", "loud", "音量", "轻柔", "响亮"),
    Scale(
        "Dynamic: sophisticated-mellow / raw-crude",
        "dynamic control",
        "sophisticated, mellow",
        "raw, crude",
        "力度控制",
        "细腻圆润",
        "粗糙生硬",
        better=-1,
    ),
    Scale("Dynamic range: little / large", "dynamic range", "narrow", "wide", "力度范围", "窄", "宽"),
    Scale("Music making: fast-paced / slow-paced", "pace", "fast-paced", "slow-paced", "速度感", "紧凑", "舒缓"),
    Scale("Music making: flat / spacious", "phrasing space", "flat", "spacious", "乐句空间", "平板", "开阔", better=+1),
    Scale(
        "Music making: disproportioned / balanced",
        "proportion",
        "disproportioned",
        "balanced",
        "整体比例",
        "失衡",
        "均衡",
        better=+1,
    ),
    Scale(
        "Music making: pure / dramatic-expressive",
        "expressiveness",
        "pure",
        "dramatic, expressive",
        "表现力",
        "朴素",
        "戏剧化",
    ),
    Scale("Emotion: optimistic-pleasant / dark", "mood", "pleasant", "dark", "情绪", "愉悦", "阴郁"),
    Scale("Emotion: low energy / high energy", "energy", "low energy", "high energy", "能量", "低沉", "高昂"),
    Scale("Emotion: honest / imaginative", "imagination", "honest", "imaginative", "想象力", "质朴", "富于想象"),
    Scale(
        "Interpretation: unsatisfactory-doubtful / convincing",
        "interpretation",
        "unconvincing",
        "convincing",
        "诠释",
        "缺乏说服力",
        "令人信服",
        better=+1,
    ),
)
SCALE_NAMES: tuple[str, ...] = tuple(s.name for s in SCALES)

# The overall mark (0-100): a weighted mean of the goodness of the scales where one end is better.
# "Interpretation: convincing" is the listeners' overall judgement, so it carries half the weight; the
# other half goes to the craft scales (stable timing, balanced proportion, mellow dynamic control, clean
# pedal, rich tone, spacious phrasing).
OVERALL_WEIGHTS: dict[str, float] = {
    "Interpretation: unsatisfactory-doubtful / convincing": 0.50,
    "Timing: stable / unstable": 0.10,
    "Music making: disproportioned / balanced": 0.10,
    "Dynamic: sophisticated-mellow / raw-crude": 0.08,
    "Pedal: clean / blurred": 0.08,
    "Timbre: shallow / rich": 0.07,
    "Music making: flat / spacious": 0.07,
}


def overall_mark(values: dict[str, float] | list[float], leave_out: Collection[str] = ()) -> float:
    """0-100: 100 when every weighted scale sits at its better end (a mean rating of 7 of 7), 0 at the
    worse end (1 of 7), 50 in the middle. ``leave_out``: scales the input cannot show (the pedal from a
    microphone); the others share their weight."""
    by_name = values if isinstance(values, dict) else dict(zip(SCALE_NAMES, values))
    scales = {s.name: s for s in SCALES}
    weights = {name: w for name, w in OVERALL_WEIGHTS.items() if name not in leave_out}
    total = 0.0
    for name, w in weights.items():
        good = scales[name].goodness(by_name[name])
        assert good is not None, f"{name!r} has no better end, so it cannot weigh in the overall mark"
        total += w * good
    return round(100.0 * min(1.0, max(0.0, total / sum(weights.values()))), 1)


MAX_STRETCH = 20.0  # a bundle's expression scale may widen the marks' spread this much at most


@dataclass(frozen=True)
class ExpressionScale:
    """The 19-scale mark of a bundle's scorer, spread as the listeners' marks are. A regression model's predictions
    huddle round the mean (the default blend's marks span a few points where the listeners' span tens), so the
    mark would barely move and the fundamentals would drown it in the two-layer mark. Measured at export on the
    release model's validation performances (``metrics.expression_scale`` of the bundle's MIDI scorer): the mark is
    moved from the model's mean and spread to the listeners'. A bundle without it keeps the marks as they are."""

    model_mean: float = 50.0
    model_sd: float = 1.0
    listener_mean: float = 50.0
    listener_sd: float = 1.0

    def apply(self, mark: float) -> float:
        spread = self.listener_mean + (mark - self.model_mean) * self.listener_sd / self.model_sd
        return round(min(100.0, max(0.0, spread)), 1)

    @classmethod
    def from_metrics(cls, data: object) -> "ExpressionScale":
        """From a manifest's ``expression_scale`` (None: the identity); ValueError when it is not a sane scale."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("expression_scale is not a table")
        try:
            values = {k: float(data[k]) for k in ("model_mean", "model_sd", "listener_mean", "listener_sd")}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"expression_scale lacks a number: {exc}") from None
        if not all(math.isfinite(v) for v in values.values()) or values["model_sd"] <= 0 or values["listener_sd"] <= 0:
            raise ValueError("expression_scale has a spread that is not a positive number")
        if values["listener_sd"] / values["model_sd"] > MAX_STRETCH:
            raise ValueError(f"expression_scale widens the marks more than {MAX_STRETCH:.0f} times")
        if not all(0.0 <= values[k] <= 100.0 for k in ("model_mean", "listener_mean")):
            raise ValueError("expression_scale has a mean outside 0-100")
        return cls(**values)
