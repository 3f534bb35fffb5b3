import subprocess
import sys

import pytest
from error_tree import INTERNAL, exception_classes
from midi_helpers import write_midi

import pianocoach
from pianocoach.errors import InputFileError, InvalidNotesError, MidiFileError, NoNotesError, PianoCoachError
from pianocoach.features import NoteTable, read_midi


def test_corrupt_midi(tmp_path):
    path = tmp_path / "corrupt.mid"
    path.write_bytes(b"MThd\x00\x00\x00\x06garbage that is not a MIDI file")
    with pytest.raises(MidiFileError, match="corrupt.mid: not a readable MIDI file"):
        read_midi(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.mid"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(MidiFileError, match="noise.mid"):
        read_midi(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mid"
    path.write_bytes(b"")
    with pytest.raises(MidiFileError, match="empty.mid: file is empty"):
        read_midi(path)


def test_missing_file(tmp_path):
    with pytest.raises(MidiFileError, match="nothing.mid: no such file"):
        read_midi(tmp_path / "nothing.mid")


def test_file_with_no_notes(tmp_path):
    path = write_midi(tmp_path / "silent.mid", [], pedal=[(0.0, 127)])
    with pytest.raises(NoNotesError, match="silent.mid: no notes"):
        read_midi(path)
    with pytest.raises(NoNotesError, match="no notes"):
        read_midi(write_midi(tmp_path / "bare.mid", []))


def test_drums_only(tmp_path):
    path = write_midi(tmp_path / "drums.mid", [], drums=[(0.0, 0.1, 36, 100)])
    with pytest.raises(NoNotesError, match="drums.mid: only drum tracks"):
        read_midi(path)


def test_every_device_exception_belongs_to_one_hierarchy():
    classes = exception_classes(pianocoach)  # every module of the device package (host packages: tests/host)
    assert {MidiFileError, NoNotesError, InvalidNotesError, InputFileError} <= set(classes.values())
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, PianoCoachError))
    assert outside == sorted(name for name in INTERNAL if name.startswith("pianocoach."))


@pytest.mark.parametrize(
    "notes, problem",
    [
        ([(1.0, 0.5, 60, 64)], "end before they start"),
        ([(0.0, 0.5, 130, 64)], "pitch must be 0..127"),
        ([(0.0, 0.5, 60, 0)], "velocity must be 1..127"),
        ([], "no notes"),
    ],
)
def test_invalid_live_notes(notes, problem):
    with pytest.raises(InvalidNotesError, match=problem):
        NoteTable.from_notes(notes, source="usb-midi")


def test_cli_prints_one_line_not_a_traceback(tmp_path):
    path = tmp_path / "broken.mid"
    path.write_bytes(b"not midi at all")
    run = subprocess.run(
        [sys.executable, "-m", "pianocoach.cli", "features", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"pianocoach: error: {path}: not a readable MIDI file")
