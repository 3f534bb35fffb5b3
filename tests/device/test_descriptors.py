import numpy as np
import pytest
from midi_helpers import steady_scale, write_midi

from pianocoach.features import DESCRIPTOR_NAMES, NoteTable, compute_descriptors, read_midi, scale_velocity, transpose

TIMING = [
    "tempo_ioi_bpm",
    "tempo_ioi_cv",
    "tempo_beat_bpm",
    "tempo_beat_cv",
    "onset_deviation_ms",
    "chord_asynchrony_ms",
    "articulation_ratio",
    "legato_overlap_ms",
    "note_density_per_s",
    "duration_s",
]
VELOCITY = ["velocity_mean", "velocity_std", "velocity_range", "velocity_local_variation"]


@pytest.fixture(scope="module")
def played_scale(tmp_path_factory):
    """A steady 120 BPM played_scale, written to a MIDI file with pretty_midi and read back."""
    return read_midi(write_midi(tmp_path_factory.mktemp("midi") / "played_scale.mid", steady_scale(bpm=120)))


@pytest.fixture(scope="module")
def scale_descriptors(played_scale):
    return compute_descriptors(played_scale)


def test_names_follow_the_catalogue_and_are_finite(scale_descriptors):
    assert list(scale_descriptors) == list(DESCRIPTOR_NAMES)
    assert all(np.isfinite(v) for v in scale_descriptors.values())


def test_steady_120_bpm_scale(scale_descriptors):
    d = scale_descriptors
    assert d["tempo_ioi_bpm"] == pytest.approx(120, abs=0.5)
    assert d["tempo_beat_bpm"] == pytest.approx(120, rel=0.05)
    assert d["tempo_ioi_cv"] < 1e-6
    assert d["onset_deviation_ms"] < 1.0
    assert d["chord_asynchrony_ms"] == 0.0
    assert d["articulation_ratio"] == pytest.approx(0.8)
    assert d["legato_overlap_ms"] == 0.0
    assert d["polyphony_mean"] == pytest.approx(1.0)
    assert d["note_density_per_s"] == pytest.approx(32 / (31 * 0.5 + 0.4))


def test_eighth_notes_fold_to_the_same_tempo():
    notes = [(i * 0.25, i * 0.25 + 0.2, 60 + i % 5, 64) for i in range(32)]
    assert compute_descriptors(NoteTable.from_notes(notes))["tempo_ioi_bpm"] == pytest.approx(120, abs=0.5)


def test_timing_jitter_raises_onset_deviation(scale_descriptors):
    rng = np.random.default_rng(0)
    jittered = [(a + j, b + j, p, v) for (a, b, p, v), j in zip(steady_scale(), rng.uniform(-0.03, 0.03, 32))]
    d = compute_descriptors(NoteTable.from_notes(jittered))
    assert d["onset_deviation_ms"] > 10.0
    assert d["onset_deviation_ms"] > 10 * scale_descriptors["onset_deviation_ms"] + 5


def test_ritardando_raises_tempo_instability():
    onsets = np.cumsum([0.5 * 1.04**i for i in range(32)])
    notes = [(t, t + 0.3, 60 + i % 7, 64) for i, t in enumerate(onsets)]
    assert compute_descriptors(NoteTable.from_notes(notes))["tempo_ioi_cv"] > 0.1


def test_doubling_velocities_doubles_velocity_features(played_scale, scale_descriptors):
    doubled = compute_descriptors(scale_velocity(played_scale, 2.0))
    for name in VELOCITY:
        assert doubled[name] == pytest.approx(2 * scale_descriptors[name]), name
    for name in TIMING:
        assert doubled[name] == pytest.approx(scale_descriptors[name]), name


def test_transposition_leaves_timing_unchanged(played_scale, scale_descriptors):
    up = compute_descriptors(transpose(played_scale, 5))
    for name in TIMING + VELOCITY:
        assert up[name] == pytest.approx(scale_descriptors[name]), name
    assert up["pitch_mean"] == pytest.approx(scale_descriptors["pitch_mean"] + 5)
    assert up["pitch_range"] == scale_descriptors["pitch_range"]


def test_chord_asynchrony_and_polyphony():
    chords = []
    for k in range(8):
        t = k * 1.0
        chords += [(t, t + 0.5, 48, 60), (t + 0.010, t + 0.5, 52, 60), (t + 0.020, t + 0.5, 55, 60)]
    d = compute_descriptors(NoteTable.from_notes(chords))
    assert d["chord_asynchrony_ms"] == pytest.approx(20.0)
    assert d["polyphony_mean"] == pytest.approx(3.0)
    assert d["tempo_ioi_bpm"] == pytest.approx(60, abs=0.5)  # chords one second apart


def test_articulation_overlap_and_pedal():
    # legato: each note held 0.6 s, next note 0.5 s later -> 100 ms overlap, ratio 1.2
    notes = [(i * 0.5, i * 0.5 + 0.6, 60 + i % 3, 64) for i in range(9)]
    # pedal down from 1.0 s to 2.55 s of a 0..4.6 s performance, pressed once
    pedal = [(1.0, 127), (2.55, 0)]
    d = compute_descriptors(NoteTable.from_notes(notes, pedal_events=pedal))
    assert d["articulation_ratio"] == pytest.approx(1.2)
    assert d["legato_overlap_ms"] == pytest.approx(100.0)  # over the 8 notes that have a next chord
    assert d["pedal_ratio"] == pytest.approx(1.55 / 4.6)
    assert d["pedal_changes_per_s"] == pytest.approx(1 / 4.6)
    assert d["pedal_depth_mean"] == pytest.approx(1.55 / 4.6)


def test_a_single_note_gives_finite_zeros_for_timing():
    d = compute_descriptors(NoteTable.from_notes([(0.0, 1.0, 60, 64)]))
    assert all(np.isfinite(v) for v in d.values())
    assert d["tempo_ioi_bpm"] == 0.0 and d["onset_deviation_ms"] == 0.0
    assert d["velocity_mean"] == 64.0 and d["duration_s"] == 1.0


def test_voicing_melody_lead_and_hand_balance():
    # chords: bass C3 + E3 at velocity 40, melody (top) note G5 at 80 struck 15 ms earlier
    notes = []
    for k in range(6):
        t = 0.5 + k * 0.5
        notes += [(t - 0.015, t + 0.4, 79, 80), (t, t + 0.4, 48, 40), (t, t + 0.4, 52, 40)]
    d = compute_descriptors(NoteTable.from_notes(notes))
    assert d["melody_velocity_lead"] == pytest.approx(40.0)
    assert d["melody_lead_ms"] == pytest.approx(15.0)
    assert d["treble_bass_balance"] == pytest.approx(40.0)


def test_ritardando_and_diminuendo_trends():
    onsets = np.cumsum([0.4 * 1.05**i for i in range(30)])
    notes = [(t, t + 0.2, 60 + i % 5, 100 - 2 * i) for i, t in enumerate(onsets)]
    d = compute_descriptors(NoteTable.from_notes(notes))
    assert d["tempo_trend"] < -0.5  # slowing down
    assert d["tempo_final_ratio"] < 0.8
    assert d["velocity_trend"] == pytest.approx(-58.0, rel=0.01)  # 100 -> 42 over the performance


def test_staccato_and_overlap_fractions():
    staccato = compute_descriptors(NoteTable.from_notes([(i * 0.5, i * 0.5 + 0.1, 60 + i % 4, 64) for i in range(10)]))
    legato = compute_descriptors(NoteTable.from_notes([(i * 0.5, i * 0.5 + 0.55, 60 + i % 4, 64) for i in range(10)]))
    assert staccato["staccato_fraction"] == 1.0 and staccato["overlap_fraction"] == 0.0
    assert legato["staccato_fraction"] == 0.0 and legato["overlap_fraction"] == 1.0
    assert staccato["duration_median_beats"] == pytest.approx(0.2)  # 0.1 s at 120 BPM


def test_pedal_sustain_blur_and_soft_pedal():
    notes = [(i * 0.5, i * 0.5 + 0.2, 60 + i % 4, 64) for i in range(12)]  # 0 .. 5.7 s
    dry = compute_descriptors(NoteTable.from_notes(notes))
    # pedal held 0.1-2.9 s: notes released under it sound until 2.9 s; half-pedal 3.0-4.0 s; soft pedal 0-2.85 s
    pedal = [(0.1, 127), (2.9, 0), (3.0, 40), (4.0, 0)]
    wet = compute_descriptors(
        NoteTable.from_notes(notes, pedal_events=pedal, soft_pedal_events=[(0.0, 127), (2.85, 0)])
    )
    assert dry["pedal_sustain_ms"] == 0.0 and dry["blur_fraction"] == 0.0
    assert wet["pedal_sustain_ms"] > 500 and wet["blur_fraction"] > 0.3
    assert wet["sounding_polyphony_mean"] > dry["sounding_polyphony_mean"] == pytest.approx(1.0)
    assert wet["pedal_press_s"] == pytest.approx(2.8)
    assert wet["pedal_partial_ratio"] == pytest.approx(1.0 / 5.7)
    assert wet["pedal_delay_ms"] == pytest.approx(100.0)
    assert wet["soft_pedal_ratio"] == pytest.approx(2.85 / 5.7)
