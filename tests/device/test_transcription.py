"""basic-pitch's nmp.onnx through ONNX Runtime, streamed: the notes of a rendered performance."""

import mir_eval
import numpy as np
import soundfile as sf
import soxr

from pianocoach.features import read_midi
from pianocoach.transcription import SAMPLE_RATE, StreamingTranscriber, notes_to_table


def resampled(path):
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return soxr.resample(audio.mean(axis=1), rate, SAMPLE_RATE)


def onset_f1(reference, notes):
    """mir_eval note F1 on onsets and pitch (50 ms onset tolerance, offsets ignored)."""
    est_intervals = np.array([[a, b] for a, b, _, _ in notes])
    est_pitches = mir_eval.util.midi_to_hz(np.array([p for _, _, p, _ in notes], dtype=float))
    ref_intervals = np.stack([reference.onset, reference.offset], axis=1)
    ref_pitches = mir_eval.util.midi_to_hz(reference.pitch.astype(float))
    precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_pitches, est_intervals, est_pitches, offset_ratio=None)
    return precision, recall, f1


def test_transcription_finds_the_notes_of_a_rendered_performance(performance):
    transcriber = StreamingTranscriber()
    transcriber.feed(resampled(performance["wav"]))
    notes = transcriber.notes(final=True)
    precision, recall, f1 = onset_f1(read_midi(performance["midi"]), notes)
    # measured F1 0.82 (precision 0.70, recall 0.98) on this clip, see the README; mixed-up windows or
    # output names fall far below
    assert f1 > 0.75 and recall > 0.9, (precision, recall, f1)


def test_streamed_transcription_equals_the_whole_file(performance):
    audio = resampled(performance["wav"])
    whole = StreamingTranscriber()
    whole.feed(audio)
    streamed = StreamingTranscriber()
    for start in range(0, len(audio), 44100):  # 2 s chunks
        streamed.feed(audio[start : start + 44100])
    assert streamed.notes(final=True) == whole.notes(final=True)
    assert streamed.frames_done == whole.frames_done


def test_transcribed_notes_become_a_note_table_without_pedal():
    table = notes_to_table([(0.5, 1.0, 60, 0.5), (0.2, 0.4, 64, 1.2)], "clip")
    assert list(table.pitch) == [64, 60] and list(table.velocity) == [127, 64]
    assert len(table.pedal_events) == 0
    assert notes_to_table([], "clip") is None
