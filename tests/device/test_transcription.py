"""basic-pitch's nmp.onnx through ONNX Runtime, streamed: the notes of a rendered performance, decoded
whole for short takes and in segments, in bounded memory, for long ones.

The checks against mir_eval and basic-pitch's own note decoder (both need scipy / librosa, which the device
does not have) are in tests/host/test_transcription_reference.py."""

import pytest
import transcription_helpers
from transcription_helpers import LONG_WHOLE_S, fed, resampled

from pianocoach.transcription import (
    FRAMES_PER_SECOND,
    FRAMES_PER_WINDOW,
    SEGMENT_HEAD_S,
    SEGMENT_STEP_S,
    SEGMENT_TAIL_S,
    StreamingTranscriber,
    notes_to_table,
)


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


@pytest.fixture(scope="module")
def long_take(performance):
    """The long take of transcription_helpers, and the same fed at once (its whole decode is compared in
    tests/host/test_transcription_reference.py)."""
    take = transcription_helpers.long_take(performance["wav"])
    at_once = fed(StreamingTranscriber(decode_whole_s=LONG_WHOLE_S), take["audio"], len(take["audio"]))
    return {**take, "at_once": at_once.notes(final=True)}


@pytest.mark.slow
def test_a_long_take_gives_the_same_notes_in_any_chunk_sizes(long_take):
    assert long_take["streamed"].segments >= 4
    assert long_take["final"] == long_take["at_once"]


@pytest.mark.slow
def test_the_posteriorgram_held_stays_bounded(long_take):
    transcriber = long_take["streamed"]
    segment = int((SEGMENT_HEAD_S + SEGMENT_STEP_S + SEGMENT_TAIL_S) * FRAMES_PER_SECOND) + 2 + FRAMES_PER_WINDOW
    held = [frames for *_, frames in long_take["live"]]
    assert max(held) <= segment < transcriber.frames_done  # 25 s of frames held of 48 s
    assert transcriber.peak_frames_held <= transcriber.frame_capacity
    assert transcriber.frames_held == 0  # all released at the end
