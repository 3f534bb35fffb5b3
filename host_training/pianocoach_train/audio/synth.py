"""FluidSynth through its library (pyfluidsynth): the soundfont is loaded once per process, then each
note table is played into a buffer. The command-line ``fluidsynth`` reloads the soundfont for every file
(4 s for MuseScore General's compressed samples) and plays reverb tails out to 10+ s."""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

from pianocoach.features import NoteTable
from pianocoach.features.notes import SOFT_CC, SUSTAIN_CC

TAIL_S = 1.0  # rendered after the last event, for the release of the last notes


@lru_cache(maxsize=1)
def _write_float():
    import fluidsynth

    return fluidsynth.cfunc(
        "fluid_synth_write_float",
        ctypes.c_int,
        ("synth", ctypes.c_void_p, 1),
        ("len", ctypes.c_int, 1),
        ("lout", ctypes.c_void_p, 1),
        ("loff", ctypes.c_int, 1),
        ("lincr", ctypes.c_int, 1),
        ("rout", ctypes.c_void_p, 1),
        ("roff", ctypes.c_int, 1),
        ("rincr", ctypes.c_int, 1),
    )


class Synth:
    def __init__(self, soundfont_path: str, sample_rate: int = 44100, gain: float = 0.6) -> None:
        import fluidsynth  # pyfluidsynth, over Debian's libfluidsynth3

        self.sample_rate = sample_rate
        # FluidSynth's reverb and chorus keep running state (an LFO, a tail) from file to file, so the
        # same table rendered twice differed by up to 0.2; with both off a render depends only on the
        # table. The room comes from the augmentation's impulse responses instead.
        self._synth = fluidsynth.Synth(
            gain=gain, samplerate=float(sample_rate), **{"synth.reverb.active": 0, "synth.chorus.active": 0}
        )
        self._sfid = self._synth.sfload(str(soundfont_path))
        self._rendered = 0
        if self._sfid < 0:
            raise RuntimeError(f"{soundfont_path}: FluidSynth could not load this soundfont")

    def _samples(self, count: int) -> np.ndarray:
        """``count`` stereo frames, float, interleaved. pyfluidsynth's get_samples goes through
        fluid_synth_write_s16, which dithers with a running noise table (renders differ by 2 LSB);
        fluid_synth_write_float does not."""
        self._rendered += count
        out = np.zeros(2 * count, dtype=np.float32)
        pointer = out.ctypes.data_as(ctypes.c_void_p)
        _write_float()(self._synth.synth, count, pointer, 0, 2, pointer, 1, 2)
        return out

    def render(self, table: NoteTable, program: int = 0) -> np.ndarray:
        """Mono float32 audio of the table's notes and pedals, played by General MIDI ``program`` of bank 0
        (0: acoustic grand piano)."""
        synth = self._synth
        synth.system_reset()
        synth.program_select(0, self._sfid, 0, program)
        # Let the reset silence the previous file, and end on a multiple of FluidSynth's 64-sample
        # block: events take effect at block boundaries, so a file must start on one to render the same
        # whatever was rendered before it (without this, the same table rendered twice differed by 0.2).
        self._samples(self.sample_rate // 2 + (-(self._rendered + self.sample_rate // 2)) % 64)
        events = [(t, 1, p, v) for t, p, v in zip(table.onset, table.pitch, table.velocity)]
        events += [(t, 0, p, 0) for t, p in zip(table.offset, table.pitch)]  # offs first at equal times
        events += [(t, 2, SUSTAIN_CC, v) for t, v in table.pedal_events]
        events += [(t, 2, SOFT_CC, v) for t, v in table.soft_pedal_events]
        events.sort(key=lambda e: (e[0], e[1]))
        chunks, done = [], 0
        for time, kind, number, value in events:
            due = int(round(max(time, 0.0) * self.sample_rate))
            if due > done:
                chunks.append(self._samples(due - done))
                done = due
            if kind == 1:
                synth.noteon(0, int(number), int(value))
            elif kind == 0:
                synth.noteoff(0, int(number))
            else:
                synth.cc(0, int(number), int(value))
        chunks.append(self._samples(int(TAIL_S * self.sample_rate)))
        stereo = np.concatenate(chunks).reshape(-1, 2)
        return stereo.mean(axis=1)
