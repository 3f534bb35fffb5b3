"""Device fixtures: a generated piano performance (MIDI) and its FluidSynth rendering (WAV)."""

import pytest

from pianocoach.sample_piece import write_sample_piece
from pianocoach.render import render_midi


@pytest.fixture(scope="session")
def performance(tmp_path_factory):
    """16 s of melody over broken chords with pedal, as MIDI and as a 44.1 kHz WAV rendered from it."""
    folder = tmp_path_factory.mktemp("performance")
    midi = write_sample_piece(folder / "performance.mid", seconds=16)
    return {"midi": midi, "wav": render_midi(midi, folder / "performance.wav")}


@pytest.fixture(scope="session")
def scorer():
    from pianocoach.scoring import BundleScorer

    return BundleScorer()  # the committed default bundle, verified
