"""The overall mark and the template feedback: documented mapping, words that match the numbers."""

from pianocoach.feedback.templates import feedback_text, tier
from pianocoach.rating_scales import HIGH, LOW, MID, SCALE_NAMES, SCALES, overall_mark

MEASURES = {
    "tempo_variation_pct": {"value": 23.0},
    "pedal_down_pct": {"value": 81.0},
    "dynamic_range_db": {"value": 14.0},
}


def at(end: str) -> dict[str, float]:
    """Every judged scale at its better ("best") or worse ("worst") end; the others in the middle."""
    values = {}
    for scale in SCALES:
        if not scale.better:
            values[scale.name] = MID
        else:
            good = HIGH if scale.better > 0 else LOW
            bad = LOW if scale.better > 0 else HIGH
            values[scale.name] = good if end == "best" else bad
    return values


def test_overall_mark_runs_from_0_to_100_with_50_in_the_middle():
    assert overall_mark(at("best")) == 100.0
    assert overall_mark(at("worst")) == 0.0
    assert overall_mark([MID] * 19) == 50.0


def test_high_low_and_mixed_results_read_differently():
    best = feedback_text(at("best"), 100.0, MEASURES)
    worst = feedback_text(at("worst"), 0.0, MEASURES)
    mixed = feedback_text({name: MID + 0.01 for name in SCALE_NAMES}, 57.0, MEASURES)  # expression 57, no mistakes
    assert best.startswith("A convincing performance (100/100).")
    assert worst.startswith("This one did not come across yet (0/100)")
    assert mixed.startswith("A solid performance with room to grow (57/100).")
    assert tier(100) == "high" and tier(0) == "low" and tier(57) == "mixed"


def test_weak_points_get_concrete_suggestions_quoting_the_measurements():
    values = at("best")
    values["Timing: stable / unstable"] = HIGH  # unstable: the worst end of timing
    values["Pedal: clean / blurred"] = 0.7  # blurred side
    text = feedback_text(values, 60.0, MEASURES)
    assert "your tempo varied by 23 %" in text and "it was down 81 % of the time" in text
    assert "timing as stable" not in text and "pedal clarity as clean" not in text


def test_nothing_is_praised_when_everything_is_on_the_worse_side():
    text = feedback_text(at("worst"), 0.0, MEASURES)
    assert "Listeners would hear" not in text and "No single aspect stood out yet." in text


def test_chinese_feedback_and_scale_words():
    text = feedback_text(at("best"), 100.0, MEASURES, language="zh")
    assert text.startswith("很有说服力的演奏（100/100）。") and "节奏听起来稳定" in text
    timing = SCALES[0]
    assert timing.ends("zh") == ("稳定", "不稳") and timing.leaning(HIGH, "zh") == "不稳"
