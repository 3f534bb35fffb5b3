import numpy as np
from midi_helpers import steady_scale, write_midi

from pianocoach.features import NoteTable, read_midi


def test_reads_notes_sorted_with_pedal_state(tmp_path):
    notes = [(1.0, 1.5, 64, 70), (0.0, 0.5, 60, 50), (0.0, 0.5, 55, 40)]
    table = read_midi(write_midi(tmp_path / "a.mid", notes, pedal=[(0.5, 100), (1.2, 0)]))
    assert table.pitch.tolist() == [55, 60, 64]
    assert np.allclose(table.onset, [0.0, 0.0, 1.0])
    assert table.velocity.tolist() == [40, 50, 70]
    assert table.pedal.tolist() == [0, 0, 100]  # CC64 in force at each onset
    assert table.pedal_events.shape == (2, 2)


def test_drum_tracks_are_ignored(tmp_path):
    path = write_midi(tmp_path / "d.mid", [(0.0, 1.0, 60, 80)], drums=[(0.0, 0.1, 36, 100), (0.5, 0.6, 38, 100)])
    table = read_midi(path)
    assert table.pitch.tolist() == [60]


def test_restruck_same_pitch_ends_the_previous_note(tmp_path):
    notes = [(0.0, 1.0, 60, 80), (0.5, 1.5, 60, 90), (0.2, 0.4, 64, 70)]
    table = NoteTable.from_notes(notes)
    sixty = table.pitch == 60
    assert np.allclose(table.onset[sixty], [0.0, 0.5])
    assert np.allclose(table.offset[sixty], [0.5, 1.5])
    assert np.all(table.duration > 0)


def test_same_pitch_same_onset_is_one_note():
    table = NoteTable.from_notes([(0.0, 0.3, 60, 40), (0.0, 0.6, 60, 90)])
    assert len(table) == 1
    assert table.offset[0] == 0.6 and table.velocity[0] == 90


def test_file_and_live_notes_give_the_same_table(tmp_path):
    notes = steady_scale(count=10)
    from_file = read_midi(write_midi(tmp_path / "s.mid", notes))
    live = NoteTable.from_notes(notes)
    assert np.allclose(from_file.onset, live.onset, atol=1e-3)
    assert np.allclose(from_file.offset, live.offset, atol=1e-3)
    assert from_file.pitch.tolist() == live.pitch.tolist()
    assert from_file.velocity.tolist() == live.velocity.tolist()


def test_soft_pedal_is_read_from_cc67(tmp_path):
    import pretty_midi

    path = write_midi(tmp_path / "soft.mid", [(0.0, 1.0, 60, 64)])
    midi = pretty_midi.PrettyMIDI(str(path))
    midi.instruments[0].control_changes += [
        pretty_midi.ControlChange(67, 127, 0.2),
        pretty_midi.ControlChange(67, 0, 0.8),
    ]
    midi.write(str(path))
    table = read_midi(path)
    assert np.allclose(table.soft_pedal_events, [[0.2, 127], [0.8, 0]], atol=1e-3)
    assert len(table.pedal_events) == 0
