"""Takes kept as recordings (history.keep_recordings): written while played, named after the stored take, rotated
under a budget; nothing left of a take that is cancelled."""

import mido
import numpy as np
import soundfile as sf
from appliance_helpers import appliance_config

from pianocoach.appliance.driven import DrivenAppliance
from pianocoach.appliance.history import History
from pianocoach.appliance.recordings import TakeRecorder, recording_of, recordings, rotate
from pianocoach.inputs import open_file


def test_the_appliance_keeps_the_take_it_stored(tmp_path, performance):
    config = appliance_config(tmp_path, performance["wav"], **{"history.keep_recordings": True})
    app = DrivenAppliance(config, warm=False)
    try:
        app.wait_state("idle")
        app.press()
        app.wait_state("result")
    finally:
        app.close()
    (row,) = History(tmp_path / "history.sqlite").last(5)
    kept = recording_of(tmp_path / "recordings", row["id"])
    assert kept is not None and kept.name == f"take-{row['id']}.flac"
    played, rate = sf.read(performance["wav"], dtype="float32")
    recorded, recorded_rate = sf.read(kept, dtype="float32")
    assert recorded_rate == rate and abs(len(recorded) / rate - len(played) / rate) < 0.05
    # what was heard, 16-bit: the same samples to within quantisation (the file source delivers them mono)
    mono = played if played.ndim == 1 else played.mean(axis=1)
    n = min(len(mono), len(recorded))
    assert np.max(np.abs(recorded[:n] - mono[:n])) < 1e-3
    assert [p.name for p in (tmp_path / "recordings").iterdir()] == [kept.name]  # no partial file left


def test_a_midi_take_is_kept_as_midi_and_a_discarded_one_leaves_nothing(tmp_path, performance):
    recorder = TakeRecorder(tmp_path, 1)
    source = open_file(performance["midi"])
    for block in source.blocks():
        recorder.add(block)
    path = recorder.finish()
    assert path is not None and path.suffix == ".mid"
    original = [m for m in mido.MidiFile(performance["midi"]) if m.type == "note_on" and m.velocity > 0]
    kept = [m for m in mido.MidiFile(path) if m.type == "note_on" and m.velocity > 0]
    assert [m.note for m in kept] == [m.note for m in original]
    assert abs(sum(m.time for m in mido.MidiFile(path)) - mido.MidiFile(performance["midi"]).length) < 0.5
    gone = TakeRecorder(tmp_path, 2)
    for block in open_file(performance["wav"]).blocks():
        gone.add(block)
        break
    gone.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_the_oldest_recordings_go_first_when_over_the_budget(tmp_path):
    for take in (3, 1, 2, 4):
        (tmp_path / f"take-{take}.flac").write_bytes(b"x" * 1000)
    (tmp_path / "notes.txt").write_text("not a recording")
    assert rotate(tmp_path, 2500, spare=4) == [1, 2]
    assert [take for take, _ in recordings(tmp_path)] == [3, 4]
    assert rotate(tmp_path, 10, spare=4) == [3]  # the newest is kept even alone over the budget
    assert (tmp_path / "notes.txt").exists()
