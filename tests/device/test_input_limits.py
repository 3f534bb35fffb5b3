"""What an input cannot show is unknown, never 0, and never said: the pedal from a microphone or from a MIDI
piano that sends no pedal messages (issue 19, item 4)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from midi_helpers import steady_scale, write_midi

from pianocoach.appliance import screens
from pianocoach.appliance.display import Layout
from pianocoach.appliance.history import History
from pianocoach.features import NoteTable
from pianocoach.feedback.aspects import tag_aspects
from pianocoach.feedback.check import check_sentence
from pianocoach.feedback.prompt import FeedbackRequest, facts_text
from pianocoach.feedback.templates import feedback_text
from pianocoach.inputs import open_file
from pianocoach.rating_scales import SCALE_NAMES, SCALES, overall_mark
from pianocoach.scoring import score_source, write_feedback
from pianocoach.scoring.heard import HearingModels, transcribe_file
from pianocoach.scoring.input_limits import PEDAL_MEASURES, PEDAL_SCALES, input_limits
from pianocoach.scoring.pedal_model import RELIABLE_FROM, HeardPedal
from pianocoach.scoring.session import SessionSettings
from pianocoach.terminal_report import format_report

PEDAL = [(0.4, 100), (4.0, 0), (4.1, 100), (8.0, 0), (8.1, 100), (16.5, 0)]


@pytest.fixture(scope="module")
def takes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    notes = steady_scale(bpm=100, count=40)
    return {
        "no_pedal": write_midi(folder / "no_pedal.mid", notes),
        "pedal": write_midi(folder / "pedal.mid", notes, pedal=PEDAL),
    }


def test_a_midi_take_without_pedal_messages_has_its_pedal_unknown(takes, scorer):
    result = score_source(open_file(takes["no_pedal"]), scorer)
    assert result.unknown_scales == list(PEDAL_SCALES)
    for name in PEDAL_MEASURES:
        assert result.measures[name]["value"] is None and "no pedal messages" in result.measures[name]["unknown"]
    data = json.loads(json.dumps(result.to_dict()))  # what `score --json` prints
    pedal_rows = [SCALE_NAMES.index(name) for name in PEDAL_SCALES]
    assert [data["scale_values"][i] for i in pedal_rows] == [None, None]
    assert all(isinstance(v, float) for i, v in enumerate(data["scale_values"]) if i not in pedal_rows)
    write_feedback(result)
    assert "pedal" not in tag_aspects(result.feedback)
    report = format_report(result)
    assert "pedal down unknown (the MIDI input sent no pedal messages; set input.midi_sends_pedal" in report
    assert report.count("unknown: this input cannot show it") == 2  # the two pedal scales


def test_pedal_messages_or_a_piano_said_to_send_them_make_the_pedal_known(takes, scorer):
    with_pedal = score_source(open_file(takes["pedal"]), scorer)
    assert with_pedal.unknown_scales == [] and with_pedal.measures["pedal_down_pct"]["value"] > 50
    assert None not in with_pedal.to_dict()["scale_values"]
    declared = score_source(open_file(takes["no_pedal"]), scorer, SessionSettings(midi_sends_pedal=True))
    assert declared.unknown_scales == [] and declared.measures["pedal_down_pct"]["value"] == 0.0
    unknown = score_source(open_file(takes["no_pedal"]), scorer)
    # the mark leaves the unknown pedal scale out (its weight shared by the others) instead of reading it as played
    assert unknown.expression_mark == scorer.expression_mark(unknown.scale_values, PEDAL_SCALES)
    assert declared.expression_mark == scorer.expression_mark(declared.scale_values)


def test_a_microphone_take_shows_the_heard_pedal_only_when_sure_and_marks_its_estimates(performance, scorer):
    audio = score_source(open_file(performance["wav"]), scorer)
    midi = score_source(open_file(performance["midi"]), scorer)
    heard = transcribe_file(
        performance["wav"], models=HearingModels(scorer.pedal_model)
    ).pedal  # the bundle's model hears
    assert heard is not None
    pedal = audio.measures["pedal_down_pct"]
    if heard.reliable:
        assert pedal["estimated"] and pedal["confidence"] == heard.confidence and pedal["value"] is not None
    else:
        assert pedal["value"] is None and f"confidence {heard.confidence:.2f}" in pedal["unknown"]
    # the pedal scales stay unknown: the transcription scorer has not learned from a heard pedal
    assert audio.unknown_scales == list(PEDAL_SCALES) and midi.unknown_scales == []
    assert audio.measures["tempo_bpm"]["estimated"] and not midi.measures["tempo_bpm"]["estimated"]
    # the key velocities: heard by the default bundle's velocity model, estimated, near the played ones' range
    velocity = audio.measures["velocity_range"]
    assert velocity["estimated"] and abs(velocity["value"] - midi.measures["velocity_range"]["value"]) < 25, velocity
    # the dB range: measured on the microphone signal, derived from key velocities for MIDI
    assert not audio.measures["dynamic_range_db"]["estimated"] and midi.measures["dynamic_range_db"]["estimated"]
    for language in ("en", "zh"):
        audio.language = language
        write_feedback(audio)
        assert "pedal" not in tag_aspects(audio.feedback), audio.feedback


def test_without_a_velocity_model_a_microphone_takes_velocity_range_is_unknown():
    measures = {"velocity_range": {"value": 40.0, "unit": "MIDI velocity", "label_en": "velocity range"}}
    table = NoteTable.from_arrays([0.0, 1.0], [0.5, 1.5], [60, 62], [60, 90])
    unheard = input_limits("audio", table, velocities_heard=False).mark_measures(measures)["velocity_range"]
    assert unheard["value"] is None and "without a velocity model" in unheard["unknown"] and unheard["unknown_zh"]
    heard = input_limits("audio", table, velocities_heard=True).mark_measures(measures)["velocity_range"]
    assert heard["value"] == 40.0 and heard["estimated"]
    failed = input_limits("audio", table, velocities_heard=False, velocity_failed=True).mark_measures(measures)
    assert failed["velocity_range"]["value"] is None and "failed on this take" in failed["velocity_range"]["unknown"]
    midi = input_limits("midi", table, velocities_heard=False).mark_measures(measures)["velocity_range"]
    assert midi["value"] == 40.0 and not midi["estimated"]  # a MIDI take always has its velocities


def test_the_heard_pedal_is_shown_estimated_with_its_confidence_or_unknown_with_the_reason():
    measures = {
        "pedal_down_pct": {"value": 40.0, "unit": "%", "label_en": "pedal down", "label_zh": "踏板踩下"},
        "pedal_changes_per_s": {"value": 0.5, "unit": "1/s", "label_en": "pedal changes", "label_zh": "换踏板频率"},
    }
    table = NoteTable.from_arrays([0.0, 1.0], [0.5, 1.5], [60, 62], [60, 60])
    sure = HeardPedal(np.array([[0.0, 127.0]]), RELIABLE_FROM + 0.05, 1.0)
    unsure = HeardPedal(np.array([[0.0, 127.0]]), RELIABLE_FROM - 0.05, 1.0)
    shown = input_limits("audio", table, heard=sure).mark_measures(measures)
    assert shown["pedal_down_pct"] == {**measures["pedal_down_pct"], "estimated": True, "confidence": sure.confidence}
    # its presses are hardly heard: the changes per second stay unknown
    assert shown["pedal_changes_per_s"]["value"] is None and "presses" in shown["pedal_changes_per_s"]["unknown"]
    unclear = f"could not be heard clearly (confidence {unsure.confidence:.3f})"
    for heard, words in ((unsure, unclear), (None, "microphone")):
        limits = input_limits("audio", table, heard=heard)
        marked = limits.mark_measures(measures)
        assert not limits.pedal_estimated and limits.unknown_scales == list(PEDAL_SCALES)
        assert all(marked[name]["value"] is None and words in marked[name]["unknown"] for name in PEDAL_MEASURES)
    # a MIDI take's pedal is read, never heard
    assert input_limits("midi", table, sends_pedal=True, heard=unsure).mark_measures(measures) == {
        k: {**v, "estimated": False} for k, v in measures.items()
    }


def test_the_feedback_is_never_told_a_heard_pedal(performance, scorer):
    """A microphone take's pedal, shown estimated, is unknown to the feedback while the pedal scales are unknown: the
    language model's prompt says unknown, so no sentence can quote it (whatever word it would use for the pedal)."""
    result = score_source(open_file(performance["wav"]), scorer)
    # a sure take's mark, as mark_measures gives it (tested above), set here: the sample render's own is unsure
    heard = {**result.measures["pedal_down_pct"], "value": 42.3, "estimated": True, "confidence": 0.9}
    result.measures = {**result.measures, "pedal_down_pct": heard}
    assert result.unknown_scales == list(PEDAL_SCALES)
    request = result.feedback_request()
    assert request.measures["pedal_down_pct"]["value"] is None and result.measures["pedal_down_pct"]["value"] == 42.3
    prompt = facts_text(request)
    assert "pedal down: unknown" in prompt and "42.3" not in prompt
    assert "(estimated, confidence 0.90)" in format_report(result)  # the player sees it, marked
    midi = score_source(open_file(performance["midi"]), scorer)  # a MIDI take's pedal is told as it is
    assert midi.feedback_request().measures["pedal_down_pct"]["value"] == midi.measures["pedal_down_pct"]["value"]


def _values(pedal_goodness: float) -> dict[str, float]:
    """Every judged scale a little on its better side, the pedal clarity at ``pedal_goodness``."""
    values = {}
    for scale in SCALES:
        good = pedal_goodness if scale.name == "Pedal: clean / blurred" else 0.6
        position = good if scale.better > 0 else 1 - good
        values[scale.name] = 1 / 7 + position * (6 / 7)
    return values


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_templates_never_suggest_a_pedal_they_could_not_measure(language):
    measured = {"pedal_down_pct": {"value": 95.0, "unit": "%", "label_en": "pedal down", "label_zh": "踏板踩下"}}
    unknown = {"pedal_down_pct": {**measured["pedal_down_pct"], "value": None}}
    values = _values(pedal_goodness=0.05)  # the worst scale by far: the first suggestion
    assert "pedal" in tag_aspects(feedback_text(values, 50.0, measured, language))  # the control: it would be said
    left = {k: v for k, v in values.items() if k not in PEDAL_SCALES}
    text = feedback_text(left, 50.0, unknown, language)
    assert "pedal" not in tag_aspects(text) and "None" not in text


def test_a_model_sentence_about_an_unknown_pedal_is_dropped_and_its_prompt_says_unknown():
    measures = {"pedal_down_pct": {"value": None, "unit": "%", "label_en": "pedal down", "label_zh": "踏板踩下"}}
    values = {k: v for k, v in _values(0.9).items() if k not in PEDAL_SCALES}
    request = FeedbackRequest(values, 60.0, measures)
    assert check_sentence("Your pedalling was beautifully clean.", request) is not None
    assert check_sentence("Your timing was steady and even.", request) is None
    known = FeedbackRequest(_values(0.9), 60.0, {"pedal_down_pct": {**measures["pedal_down_pct"], "value": 20.0}})
    assert check_sentence("Your pedalling was beautifully clean.", known) is None
    prompt = facts_text(request)
    assert "pedal down: unknown" in prompt and "pedal clarity" not in prompt and "pedal amount" not in prompt
    assert "pedal clarity" in facts_text(known) and "pedal amount" in facts_text(known)


def test_the_mark_shares_an_unknown_scale_s_weight_among_the_others():
    values = _values(pedal_goodness=0.0)
    assert overall_mark(values, PEDAL_SCALES) > overall_mark(values)
    assert overall_mark(_values(pedal_goodness=0.6), PEDAL_SCALES) == pytest.approx(overall_mark(_values(0.6)), abs=0.1)


def test_screens_and_history_show_an_unknown_pedal_as_unknown(takes, scorer, tmp_path):
    result = score_source(open_file(takes["no_pedal"]), scorer)
    write_feedback(result)
    layout = Layout(128, 64, "1", "en")
    pages = screens.result_pages(result, None, layout.capacity)
    text = "\n".join(page.text() for page in pages)
    assert "pedal down unknown" in text and "----?------" in text
    for page in pages:  # every page draws, the unknown bars included
        assert layout.draw(page).size == (128, 64)
    history = History(tmp_path / "history.sqlite")
    try:
        history.add(result)
        stored = history.latest()
    finally:
        history.close()
    assert stored is not None
    assert [stored["scales"][name] for name in PEDAL_SCALES] == [None, None]
    assert stored["measures"]["pedal_down_pct"]["value"] is None
    assert np.isfinite([v for k, v in stored["scales"].items() if k not in PEDAL_SCALES]).all()


def test_score_on_the_command_line_takes_the_player_s_word_that_the_piano_sends_its_pedal(takes):
    def pedal(*flags: str):
        run = subprocess.run(
            [sys.executable, "-m", "pianocoach.cli", "score", "--json", *flags, str(takes["no_pedal"])],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert run.returncode == 0, run.stderr
        data = json.loads(run.stdout)
        return data["measures"]["pedal_down_pct"]["value"], data["unknown_scales"]

    assert pedal() == (None, list(PEDAL_SCALES))
    assert pedal("--sends-pedal") == (0.0, [])


def test_while_playing_the_mark_and_the_hint_leave_an_unknown_pedal_out(takes, scorer):
    blocks = []
    score_source(open_file(takes["no_pedal"]), scorer, on_block=lambda block, result: blocks.append(result))
    live = [b for b in blocks if b is not None]
    assert live and all(b.unknown_scales == PEDAL_SCALES for b in live)
    assert all(b.overall == scorer.expression_mark(b.scores, PEDAL_SCALES) for b in live)
    pedalled = []
    score_source(open_file(takes["pedal"]), scorer, on_block=lambda block, result: pedalled.append(result))
    assert [b.unknown_scales for b in pedalled if b is not None][-1] == ()  # CC64 arrived: the pedal is known
    scores = [_values(pedal_goodness=0.0)[name] for name in SCALE_NAMES]  # the pedal clarity by far the weakest
    for language in ("en", "zh"):
        assert "pedal" in tag_aspects(screens.live_hint(language, scores))  # the control: it would be named
        assert "pedal" not in tag_aspects(screens.live_hint(language, scores, PEDAL_SCALES))
