"""The live inputs' own logic, driven without hardware: the microphone's queue-to-block assembly and
the MIDI port reader (fed by an in-memory mido port)."""

from collections import deque
from types import SimpleNamespace

import mido
import numpy as np

from pianocoach.inputs.microphone import MicrophoneSource
from pianocoach.inputs.midi_port import MidiPortSource, to_event


def test_microphone_cuts_callback_chunks_into_blocks_and_counts_overflows():
    mic = MicrophoneSource(sample_rate=1000, block_seconds=0.5)
    ok, overflow = SimpleNamespace(input_overflow=False), SimpleNamespace(input_overflow=True)
    for i in range(7):  # 7 chunks of 128 samples = 896 samples, as PortAudio would deliver them
        mic._callback(np.full((128, 1), i, dtype=np.float32), 128, None, overflow if i == 3 else ok)
    mic.stop()
    blocks = list(mic._assemble(500))
    assert [len(b.audio) for b in blocks] == [500, 396]
    assert blocks[0].start == 0 and blocks[1].start == 0.5 and blocks[1].end == 0.896
    assert np.array_equal(np.concatenate([b.audio for b in blocks]), np.repeat(np.arange(7), 128).astype(np.float32))
    assert blocks[-1].overflows == 1


class KeyboardPort(mido.ports.BaseInput):
    """An in-memory mido input port: messages become pending when the shared clock passes their time."""

    def __init__(self, timed_messages, clock):
        self.timed = deque(timed_messages)
        self.clock = clock
        super().__init__("test keyboard")

    def _receive(self, block=True):
        if self.timed and self.timed[0][0] <= self.clock.now:
            self._messages.append(self.timed.popleft()[1])


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.01  # every look at the clock advances it 10 ms
        return self.now


def test_midi_port_blocks_hold_notes_and_pedal_with_times():
    clock = Clock()
    messages = [
        (0.2, mido.Message("note_on", note=60, velocity=70)),
        (0.3, mido.Message("control_change", control=64, value=127)),
        (0.6, mido.Message("note_on", note=60, velocity=0)),
        (1.2, mido.Message("note_off", note=64)),
        (1.3, mido.Message("pitchwheel", pitch=100)),
    ]
    source = MidiPortSource(port=KeyboardPort(messages, clock), block_seconds=1.0, poll_s=0.0, clock=clock)
    blocks = []
    for block in source.blocks():
        blocks.append(block)
        if len(blocks) == 2:
            source.stop()
    assert [b.index for b in blocks[:2]] == [0, 1]
    kinds = [(e.kind, e.number, e.value) for b in blocks for e in b.events]
    assert kinds == [("on", 60, 70), ("cc", 64, 127), ("off", 60, 0), ("off", 64, 0)]
    times = [e.time for b in blocks for e in b.events]
    assert all(b > a for a, b in zip(times, times[1:])) and 0.2 <= times[0] < 0.3


def test_messages_the_scorer_does_not_use_are_dropped():
    assert to_event(mido.Message("program_change", program=3), 0.0) is None
    assert to_event(mido.Message("control_change", control=7, value=3), 0.0) is None
    assert to_event(mido.Message("control_change", control=67, value=90), 1.0).number == 67


def test_file_replay_in_real_time_is_paced_like_a_live_input(tmp_path):
    import time

    import soundfile as sf

    from pianocoach.inputs import AudioFileSource

    sf.write(str(tmp_path / "one_second.wav"), np.zeros(8000, dtype=np.float32), 8000)
    started = time.monotonic()
    blocks = list(AudioFileSource(tmp_path / "one_second.wav", block_seconds=0.25, realtime=True).blocks())
    assert [b.end for b in blocks] == [0.25, 0.5, 0.75, 1.0]
    assert time.monotonic() - started >= 0.95  # each block is handed over when its audio would have been heard
