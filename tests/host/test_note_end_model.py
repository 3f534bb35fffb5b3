"""The note-end model (make note-end-model): its examples are what the device hears in a render, labelled with how
long each note sounded; the graph gives the host model's answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from midi_helpers import write_midi

from pianocoach.features.note_ends import FEATURE_NAMES, sounding_ends
from pianocoach_train.audio.renders import RenderJob, render_soundfont
from pianocoach_train.note_end_model import DEFAULT_PEDAL, fit, offset_f1, onnx_log_ratios, take, to_onnx


def test_examples_are_labelled_with_the_sounding_length_and_the_model_graph_agrees(
    isolated_outputs, tmp_path, monkeypatch
):
    import pianocoach_train.audio.renders as renders

    monkeypatch.setattr(renders, "_SYNTHS", {})  # a fresh synthesiser (one that rendered before sounds different)
    # twelve short notes half a second apart; the pedal holds the first six until 3 s
    notes = [(0.5 * i + 0.2, 0.5 * i + 0.4, 60 + (i * 5) % 12, 80) for i in range(12)]
    path = write_midi(tmp_path / "pedalled.mid", notes, pedal=[(0.0, 127), (3.0, 0)])
    job = RenderJob("pedalled", str(path), "musescore_general", 0, transcribe=True)
    render_soundfont(job.soundfont, {job.ident: Path(job.midi_path)}, transcribe=True, workers=1)
    example = take((job.soundfont, job.ident, job.midi_path, 0, str(DEFAULT_PEDAL)))
    assert example is not None and example.features.shape == (len(example.heard), len(FEATURE_NAMES))
    assert len(example.matched) >= 9  # most of the twelve heard at their onsets
    onsets = example.heard.onset[example.matched]
    held, free = example.label[onsets < 2.8], example.label[onsets > 3.1]
    # held by the pedal: sounding to 3 s, longer than heard; the free ones sound 0.2 s, heard longer than that
    assert len(held) >= 4 and len(free) >= 4
    assert np.mean(held) > 0 > np.mean(free)
    # the played pedal's ends against the heard ones: the F1 is what mir_eval says of the ends given
    assert offset_f1(example.played, example.heard, example.played_pedal_ends) > offset_f1(
        example.played, example.heard, example.heard.offset
    )
    model = fit(example.features[example.matched], example.label)
    graph = onnx_log_ratios(to_onnx(model), example.features)
    assert graph == pytest.approx(model.predict(example.features), abs=1e-4)
    assert np.all(sounding_ends(example.heard, graph) > example.heard.onset)
