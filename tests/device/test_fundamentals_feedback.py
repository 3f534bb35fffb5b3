"""The fundamentals in the feedback: the one thing to work on next, sentences that name bars (and hands when the input
showed them), the language model's prompt, and the check on the numbers a model quotes."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from fundamentals_takes import ode_take, score_take

from pianocoach.feedback.check import check_sentence
from pianocoach.feedback.fundamentals_advice import (
    fundamentals_sentences,
    next_focus,
    weakest_scale,
)
from pianocoach.feedback.prompt import FeedbackRequest, facts_text
from pianocoach.feedback.templates import SUGGEST, feedback_text
from pianocoach.feedback.writer import FeedbackWriter, template_feedback
from pianocoach.render import render_midi


def with_fundamentals(result) -> FeedbackRequest:
    """The result's feedback request carrying its fundamentals, bars and piece."""
    return dataclasses.replace(
        result.feedback_request(),
        fundamentals=result.fundamentals,
        bars=result.bars,
        piece=result.piece,
    )


@pytest.fixture(scope="module")
def take(tmp_path_factory, scorer):
    """Ode to Joy from MIDI: two wrong notes in bar 3, a stop before bar 9."""
    folder = tmp_path_factory.mktemp("take")
    return score_take(ode_take(folder / "take.mid"), scorer)


@pytest.fixture(scope="module")
def audio_take(tmp_path_factory, scorer):
    """The same take rendered to audio and transcribed."""
    folder = tmp_path_factory.mktemp("audio")
    return score_take(render_midi(ode_take(folder / "take.mid"), folder / "take.wav"), scorer)


def values(result) -> dict[str, float]:
    return dict(zip(result.scale_names, result.scale_values))


def test_two_wrong_notes_in_bar_3_make_bar_3_the_thing_to_work_on(take):
    assert take.fundamentals["notes"]["wrong"] == 2 and take.piece["id"] == "ode-to-joy"
    focus = next_focus(take.fundamentals, take.bars, values(take))
    assert (focus.kind, focus.bar) == ("notes", "3")
    assert focus.line("en") == "Work on: bar 3 notes" and focus.line("zh") == "重点：第3小节的音"


def test_the_template_feedback_names_the_bars_and_puts_the_fundamentals_first(take):
    text = template_feedback(with_fundamentals(take))
    assert "Bar 3, right hand: two wrong notes." in text and "Practise bar 3 slowly" in text
    assert "You stopped before bar 9." in text
    assert text.index("Bar 3") < text.index("You stopped") < text.index("Listeners would hear")
    zh = template_feedback(dataclasses.replace(with_fundamentals(take), language="zh"))
    assert "第3小节" in zh and "2 个错音。" in zh and "你在第9小节前停了下来。" in zh


def without_fundamentals(take):
    """The request a result without a score following makes (an older result, or no repertoire)."""
    return dataclasses.replace(take.feedback_request(), fundamentals=None, bars=None, piece=None)


def test_without_fundamentals_the_feedback_is_as_before(take):
    request = without_fundamentals(take)
    assert template_feedback(request) == feedback_text(values(take), take.overall, take.measures, "en")
    assert "Bar" not in template_feedback(request)


def test_the_order_of_what_to_work_on(take):
    base = copy.deepcopy(take.fundamentals)
    clean = {
        **base,
        "notes": {
            **base["notes"],
            "wrong": 0,
            "missed": 0,
            "extra": 0,
            "accuracy_pct": 100.0,
        },
    }
    order = []
    f = copy.deepcopy(clean)  # stops still in: they come next
    order.append(next_focus(f, [], values(take)).kind)
    f["stops"] = []
    f["tempo"] = {
        **f["tempo"],
        "ratio_to_marking": 0.7,
        "played_qpm": 70.0,
        "marked_qpm": 100.0,
        "trend": "dragging",
    }
    order.append(next_focus(f, [], values(take)).kind)
    f["tempo"]["ratio_to_marking"] = 0.95
    f["tempo"]["change_pct"] = -20.0
    order.append(next_focus(f, [], values(take)).kind)
    f["tempo"]["trend"] = "steady"
    f["hands"] = {
        "right_velocity": 50.0,
        "left_velocity": 60.0,
        "right_minus_left_db": -3.2,
    }
    order.append(next_focus(f, [], values(take)).kind)
    f["hands"]["right_minus_left_db"] = 4.0  # the right hand a few dB louder: as it should be
    order.append(next_focus(f, [], values(take)).kind)
    f["dynamics"] = {"regions": 3, "agreement": 1.0}
    last = next_focus(f, [], values(take))
    assert order == ["stops", "slow", "dragging", "hands", "dynamics"] and last.kind == "expression"
    assert last.scale == weakest_scale(values(take)) and last.scale.name in SUGGEST
    # the templates' first expressive suggestion is the same aspect
    first_suggestion = SUGGEST[last.scale.name]["en"].split(":")[0]
    assert first_suggestion in feedback_text(values(take), take.overall, take.measures, "en")


def test_the_hand_of_an_error_comes_from_the_score(take):
    assert all(item["staff"] == 1 for row in take.bars for item in row["errors"]["wrong"])
    text = " ".join(fundamentals_sentences(take.fundamentals, take.bars, "en"))
    assert "Bar 3, right hand: two wrong notes." in text and "bar 3 slowly, right hand alone" in text
    audio_like = {**take.fundamentals, "hands": None, "dynamics": None}  # the score still says which hand
    assert "Bar 3, right hand" in " ".join(fundamentals_sentences(audio_like, take.bars, "en"))
    bars = copy.deepcopy(take.bars)
    for row in bars:  # rows without the staff: the bar alone
        for item in row["errors"]["wrong"]:
            del item["staff"]
    assert "hand" not in " ".join(fundamentals_sentences(audio_like, bars, "en"))


def test_audio_results_never_mention_hands_or_dynamic_markings(audio_take):
    assert audio_take.source == "audio" and audio_take.fundamentals["hands"] is None
    for language in ("en", "zh"):
        request = dataclasses.replace(with_fundamentals(audio_take), language=language)
        text = template_feedback(request)
        assert "Bar 3" in text or "第3小节" in text  # the wrong notes are still heard
        for word in ("as loud as the right", "hand balance", "一样响", "平衡", "marking", "记号"):  # balance, dynamics
            assert word not in text
        assert "right hand minus" not in facts_text(request) and "右手减左手" not in facts_text(request)


def test_free_play_speaks_of_stops_without_bars():
    fundamentals = {
        "mode": "free",
        "notes": None,
        "stops": [{"time_s": 4.0, "seconds": 2.0, "bar": None}],
        "restarts": [{"time_s": 6.0, "from_bar": None, "to_bar": None}],
        "skipped_bars": [],
        "tempo": {"steadiness_pct": 30.0, "change_pct": 0.0, "trend": "steady"},
        "hands": None,
        "dynamics": None,
        "factor": 0.7,
    }
    text = " ".join(fundamentals_sentences(fundamentals, [], "en"))
    assert text.startswith("You stopped once. You went back and replayed a passage once.")
    assert "Your tempo varied by 30 %" in text and "bar" not in text.lower().replace("bars", "")


def test_the_prompt_carries_a_compact_fundamentals_line(take):
    facts = facts_text(with_fundamentals(take))
    assert "Piece: Ode to Joy" in facts
    line = next(line for line in facts.splitlines() if line.startswith("Fundamentals:"))
    assert "notes right 97.6 % (2 wrong, 0 missed, 0 extra)" in line and "errors by bar: 3: 2 wrong" in line
    assert "stops before bars: 9" in line and "marked 100 (100 %)" in line
    assert "Work on first: bar 3 notes" in facts
    zh = facts_text(dataclasses.replace(with_fundamentals(take), language="zh"))
    assert "各小节错误：第3小节 错2" in zh and "曲目：Ode to Joy" in zh
    assert "Fundamentals" not in facts_text(without_fundamentals(take))  # a request without them: as before


def test_the_check_keeps_good_sentences_and_drops_invented_bars_and_percentages(take):
    request = with_fundamentals(take)
    for good in (
        "Bar 3: two wrong notes; you stopped before bar 9.",
        "Practise from bar 8 into bar 9 without stopping.",
        "You played 97.6 % of the notes right.",
        "第3小节有两个错音，在第9小节前停了下来。",
    ):
        assert check_sentence(good, request) is None, good
    assert "bar 40" in check_sentence("Bar 40 needs work.", request)
    assert "50 %" in check_sentence("Only 50 % of the notes were right.", request)
    assert check_sentence("第40小节要多练。", request) is not None
    free_play = {
        **take.fundamentals,
        "mode": "free",
        "notes": None,
        "stops": [],
        "restarts": [],
    }
    free = dataclasses.replace(request, fundamentals=free_play, bars=[])
    assert "no score" in check_sentence("Bar 3 needs work.", free)
    assert check_sentence("Bar 40 needs work.", without_fundamentals(take)) is None  # no fundamentals: unchecked


class Scripted:
    """A language model that answers with fixed text pieces (and records the prompt it was given)."""

    name = "local"

    def __init__(self, pieces: list[str]) -> None:
        self.pieces, self.messages = pieces, None

    def stream(self, messages, max_tokens, temperature, stop):
        self.messages = messages
        yield from self.pieces


def test_the_writer_keeps_the_models_sentences_about_real_bars_and_drops_invented_ones(
    take,
):
    model = Scripted(
        [
            "Bar 3 had two wrong notes. ",
            "Bar 14 was perfect, but bar 40 was not. ",
            "Keep going.",
        ]
    )
    written = FeedbackWriter(model).write(with_fundamentals(take))
    assert written.source == "local" and written.text == "Bar 3 had two wrong notes. Keep going."
    assert [why for _, why in written.dropped] == ["names bar 40, which was not played"]
    assert "errors by bar: 3: 2 wrong" in model.messages[1]["content"]
