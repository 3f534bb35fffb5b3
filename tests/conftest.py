"""pytest puts this folder on sys.path because this file is here, so tests can import midi_helpers.

Both test lanes load this file (tests/device runs in a venv holding only the device package), so it imports
only the device package. Markers are registered in tests/pytest.ini (``slow``; ``--strict-markers``).

Every test starts with its own empty trust folder (``PIANOCOACH_TRUSTED_KEYS``), so no test reads or
depends on the machine's ``/etc/pianocoach/trusted_keys``; ``bundle_helpers.trust`` adds a key to it.
"""

import pytest

from pianocoach.bundle.trust import TRUST_DIR_ENV
from pianocoach.render import render_midi
from pianocoach.sample_piece import write_sample_piece


@pytest.fixture(scope="session")
def performance(tmp_path_factory):
    """16 s of melody over broken chords with pedal, as MIDI and as a 44.1 kHz WAV rendered from it."""
    folder = tmp_path_factory.mktemp("performance")
    midi = write_sample_piece(folder / "performance.mid", seconds=16)
    return {"midi": midi, "wav": render_midi(midi, folder / "performance.wav")}


@pytest.fixture(autouse=True)
def own_trust_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(TRUST_DIR_ENV, str(tmp_path / "trusted_keys"))
