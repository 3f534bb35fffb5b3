"""Audio to notes with basic-pitch's ``nmp.onnx`` run directly by ONNX Runtime, streamed, in bounded memory.

The audio is cut into exactly the windows basic-pitch's own offline ``predict`` uses (43,844 samples at
22,050 Hz, 30 frames of overlap, half of it trimmed from each side, 3,840 zero samples in front), so a
performance streamed block by block gives the same posteriorgrams as the whole file at once. Notes are
decoded by basic-pitch's ``output_to_notes_polyphonic`` with its default settings (what its
``model_output_to_notes`` calls; without pitch bends the contour output only gave the frame count, so it
is not kept).

basic-pitch's decoder is not local: it rescales the frame differences it infers onsets from by the
maximum over the whole posteriorgram, and its "melodia trick" repeatedly takes the global maximum of the
remaining energy (so decoding grows with the square of the length). So:

- a take of at most ``DECODE_WHOLE_S`` is decoded whole at the end, exactly as basic-pitch does (host
  training transcribes PercePiano clips of at most 100 s this way);
- a longer take is decoded in segments on the frame grid: the notes with onsets in ``SEGMENT_STEP_S`` of
  frames are frozen from a decode that adds ``SEGMENT_HEAD_S`` of context before and ``SEGMENT_TAIL_S``
  after, with the onset rescaling taken from the take's frames up to the segment's end (and at least the
  first ``DECODE_WHOLE_S``); a note found again across a boundary while a frozen one of its pitch still
  sounds is dropped; then the frames before the next segment's context are dropped. The segment
  boundaries depend on frame indices only, so the same audio fed in any chunk sizes gives the same notes,
  and the frames held never exceed a fixed bound. A long take is transcribed to its last sample (basic-pitch
  cuts the last 0.7 % of a file's frames, 24 s of an hour, as a short take still is);
- while playing, ``live_notes(since_s)`` decodes only the recent, not yet frozen frames.

basic-pitch is installed without its tensorflow dependency (``pip install --no-deps basic-pitch``);
only its ONNX file is used; its note decoder is vendored in :mod:`pianocoach.note_decoder` (basic-pitch's
``note_creation`` module imports librosa, and so numba, which the device does not carry).
"""

from __future__ import annotations

import bisect
import importlib.util
import logging
import time
from pathlib import Path

import numpy as np

from pianocoach.errors import PianoCoachError
from pianocoach.features import NoteTable
from pianocoach.note_decoder import decode_notes

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
FFT_HOP = 256
WINDOW = 2 * SAMPLE_RATE - FFT_HOP  # 43,844 samples per model call
OVERLAP_FRAMES = 30
OVERLAP = OVERLAP_FRAMES * FFT_HOP  # 7,680 samples
HOP = WINDOW - OVERLAP  # 36,164 samples between windows
FRAMES_PER_SECOND = SAMPLE_RATE // FFT_HOP  # 86 (basic-pitch's ANNOTATIONS_FPS)
MODEL_FRAMES = 2 * FRAMES_PER_SECOND  # 172 output frames per model call (basic-pitch's ANNOT_N_FRAMES)
FRAMES_PER_WINDOW = MODEL_FRAMES - OVERLAP_FRAMES  # 142 frames kept per model call
N_PITCHES = 88
MIDI_OFFSET = 21  # MIDI pitch of the posteriorgram's first row (A0)
# basic-pitch's model_frames_to_time: each 172-frame stretch is shifted back by this much (its "magic number")
WINDOW_OFFSET_S = (FFT_HOP / SAMPLE_RATE) * (MODEL_FRAMES - WINDOW / FFT_HOP) + 0.0018
# basic-pitch defaults: onset 0.5, frame 0.3, minimum note 127.7 ms
ONSET_THRESHOLD, FRAME_THRESHOLD = 0.5, 0.3
MIN_NOTE_FRAMES = int(np.round(127.70 / 1000 * (SAMPLE_RATE / FFT_HOP)))
DIFF_LEAD = 2  # basic-pitch infers onsets from the differences to the 2 frames before
# nmp.onnx output names (from basic-pitch's own ONNX runner); the contour output is not needed
OUTPUTS = {"note": "StatefulPartitionedCall:1", "onset": "StatefulPartitionedCall:2"}

# Takes up to this long are decoded whole at the end, exactly as basic-pitch (PercePiano clips used by host
# training are at most 100 s); the frames of such a take are all held until it ends (about 7.7 MB).
DECODE_WHOLE_S = 120.0
# Segments of longer takes: a 25 s decode (about 30 ms on one x86 core) every 5 s, and notes settle 10 to
# 17 s after they are played. On 5 minutes of rendered PercePiano pieces this gives the notes of the whole
# decode (onset F1 1.000, 2,340 of 2,341 notes identical; the other's offset is one frame later).
SEGMENT_HEAD_S = 10.0  # context before: notes whose decode runs backwards across the boundary settle
SEGMENT_STEP_S = 5.0  # notes frozen per segment decode (settled_until_s advances by this much)
SEGMENT_TAIL_S = 10.0  # context after: a frozen note longer than this is cut at the decode's end
LIVE_HEAD_S = SEGMENT_HEAD_S  # context decoded before the first live frame, as for the segments

NOTE_DTYPE = np.dtype([("onset", "f8"), ("offset", "f8"), ("pitch", "i2"), ("amplitude", "f4")])
Note = tuple[float, float, int, float]  # (onset s, offset s, MIDI pitch, amplitude 0..1)
Event = tuple[int, int, int, float]  # basic-pitch's (onset frame, offset frame, MIDI pitch, amplitude)


class TranscriberError(PianoCoachError):
    """The transcription model is missing or cannot be loaded, or audio came after the end."""


def default_model_path() -> Path:
    """``nmp.onnx`` inside the installed basic-pitch package (found without importing it)."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise TranscriberError("basic-pitch is not installed (pip install --no-deps basic-pitch==0.4.0)")
    return Path(spec.submodule_search_locations[0]) / "saved_models" / "icassp_2022" / "nmp.onnx"


def frame_times(index: np.ndarray) -> np.ndarray:
    """Seconds of posteriorgram frames, as basic-pitch's ``model_frames_to_time`` gives them (a function of
    the frame index alone, so a segment's frames get the same times as in the whole posteriorgram)."""
    index = np.asarray(index, dtype=np.int64)
    return (index * FFT_HOP).astype(int) / float(SAMPLE_RATE) - WINDOW_OFFSET_S * np.floor(index / MODEL_FRAMES)


def _frame_time(index: int) -> float:
    return float(frame_times(np.array([index]))[0])


def _first_frame_at(seconds: float) -> int:
    """The first frame whose time is at least ``seconds`` (frame times increase with the index)."""
    if seconds <= 0:
        return 0
    low = int(seconds * SAMPLE_RATE / FFT_HOP)  # a frame's time is at most index x hop / rate
    high = int(seconds / (FFT_HOP / SAMPLE_RATE - WINDOW_OFFSET_S / MODEL_FRAMES)) + 2  # and at least this
    return bisect.bisect_left(range(low, high), seconds, key=_frame_time) + low


def _windows_for(n_samples: int) -> int:
    """Complete model windows in ``n_samples`` of audio (after the half overlap of zeros in front)."""
    return max(0, (n_samples + OVERLAP // 2 - WINDOW) // HOP + 1)


def _audio_frames(n_samples: int) -> int:
    """Frames that start inside the audio: window w keeps frames for samples w x HOP + [0, 142 x 256)."""
    return (n_samples // HOP) * FRAMES_PER_WINDOW + min(FRAMES_PER_WINDOW, -(-(n_samples % HOP) // FFT_HOP))


def _frame_diff(frames: np.ndarray, lead: np.ndarray, first: int) -> np.ndarray:
    """basic-pitch's ``get_infered_onsets`` frame difference (before rescaling) of frames whose first absolute
    index is ``first``; ``lead``: the 2 frames before (zeros before the take), in float64 as basic-pitch."""
    extended = np.concatenate([lead.astype(np.float64), frames])
    diff = np.minimum(extended[2:] - extended[1:-1], extended[2:] - extended[:-2])
    diff[diff < 0] = 0
    diff[: max(0, DIFF_LEAD - first)] = 0  # basic-pitch zeroes the take's first 2 frames
    return diff


class _FrameStore:
    """The note and onset posteriorgram frames not yet frozen, in fixed arrays (``capacity`` frames), with
    each frame's onset maximum and frame-difference maximum for basic-pitch's onset rescaling."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.note = np.zeros((capacity, N_PITCHES), np.float32)
        self.onset = np.zeros((capacity, N_PITCHES), np.float32)
        self.onset_peak = np.zeros(capacity, np.float32)
        self.diff_peak = np.zeros(capacity, np.float64)
        self.start = 0  # absolute index of the first frame held
        self.count = 0
        self.dropped_onset_peak = np.float32(0)
        self.dropped_diff_peak = np.float64(0)
        self.peak_count = 0  # the most frames held at once

    @property
    def end(self) -> int:
        return self.start + self.count

    def lead(self, first: int) -> np.ndarray:
        """The 2 frames before absolute index ``first`` (zeros before the take)."""
        lead = np.zeros((DIFF_LEAD, N_PITCHES), np.float32)
        low = max(0, first - DIFF_LEAD)
        if first > 0:
            if low < self.start:
                raise RuntimeError(f"frame {low} was dropped (held from {self.start})")
            lead[DIFF_LEAD - (first - low) :] = self.note[low - self.start : first - self.start]
        return lead

    def append(self, note: np.ndarray, onset: np.ndarray) -> None:
        n = len(note)
        if self.count + n > self.capacity:
            raise RuntimeError(f"posteriorgram store full ({self.capacity} frames): segments not frozen")
        diff = _frame_diff(note, self.lead(self.end), self.end)
        at = slice(self.count, self.count + n)
        self.note[at], self.onset[at] = note, onset
        self.onset_peak[at], self.diff_peak[at] = onset.max(axis=1), diff.max(axis=1)
        self.count += n
        self.peak_count = max(self.peak_count, self.count)

    def drop_before(self, index: int) -> None:
        n = min(max(0, index - self.start), self.count)
        if n == 0:
            return
        self.dropped_onset_peak = max(self.dropped_onset_peak, self.onset_peak[:n].max())
        self.dropped_diff_peak = max(self.dropped_diff_peak, self.diff_peak[:n].max())
        keep = self.count - n
        for array in (self.note, self.onset, self.onset_peak, self.diff_peak):
            array[:keep] = array[n : n + keep]  # numpy copies overlapping ranges safely
        self.start += n
        self.count = keep

    def rows(self, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        if first < self.start or stop > self.end:
            raise RuntimeError(f"frames {first}..{stop} not held ({self.start}..{self.end})")
        at = slice(first - self.start, stop - self.start)
        return self.note[at], self.onset[at]

    def peaks(self, stop: int) -> tuple[np.float32, np.float64]:
        """Onset maximum and frame-difference maximum over the take's frames before ``stop``."""
        if stop > self.end:
            raise RuntimeError(f"frame {stop} not computed yet ({self.end})")
        held = max(0, stop - self.start)
        onset, diff = self.dropped_onset_peak, self.dropped_diff_peak
        if held:
            onset, diff = max(onset, self.onset_peak[:held].max()), max(diff, self.diff_peak[:held].max())
        return np.float32(onset), np.float64(diff)


class _NoteList:
    """Frozen notes in onset order, in a compact array (22 bytes a note) that doubles as it fills."""

    def __init__(self) -> None:
        self._notes = np.zeros(1024, NOTE_DTYPE)
        self.count = 0

    def extend(self, rows: np.ndarray) -> None:
        if self.count + len(rows) > len(self._notes):
            grown = np.zeros(max(2 * len(self._notes), self.count + len(rows)), NOTE_DTYPE)
            grown[: self.count] = self._notes[: self.count]
            self._notes = grown
        self._notes[self.count : self.count + len(rows)] = rows
        self.count += len(rows)

    def since(self, seconds: float) -> np.ndarray:
        notes = self._notes[: self.count]
        return notes[np.searchsorted(notes["onset"], seconds, side="left") :]


def _as_rows(events: list[Event]) -> np.ndarray:
    """Decoded events (frames) as sorted note rows (seconds), as ``model_output_to_notes`` times them."""
    rows = np.zeros(len(events), NOTE_DTYPE)
    if events:
        start, end, pitch, amplitude = (np.array(column) for column in zip(*events))
        rows["onset"], rows["offset"] = frame_times(start), frame_times(end)
        rows["pitch"], rows["amplitude"] = pitch, amplitude
    return np.sort(rows, order=["onset", "offset", "pitch", "amplitude"])


def _as_tuples(rows: np.ndarray) -> list[Note]:
    return [(float(a), float(b), int(p), float(amp)) for a, b, p, amp in rows.tolist()]


class StreamingTranscriber:
    """Feed 22,050 Hz mono audio in any chunk sizes; ask for the live notes while playing (``live_notes``)
    and for all of them at the end (``notes(final=True)``). Memory and time per block do not grow with the
    take: only the frames not yet frozen are held (at most ``frame_capacity``), and the frozen notes."""

    def __init__(
        self, model_path: str | Path | None = None, threads: int = 1, decode_whole_s: float = DECODE_WHOLE_S
    ) -> None:
        from pianocoach.bundle.verify import open_session

        path = Path(model_path) if model_path else default_model_path()
        if not path.is_file():
            raise TranscriberError(f"{path}: transcription model not found")
        self.session = open_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name
        self._buffer = np.zeros(OVERLAP // 2, dtype=np.float32)  # basic-pitch pads the front with half an overlap
        self.n_samples = 0
        self.seconds_spent = 0.0  # in the model
        self.decode_whole_samples = int(decode_whole_s * SAMPLE_RATE)
        self._head = int(SEGMENT_HEAD_S * FRAMES_PER_SECOND)
        self._step = int(SEGMENT_STEP_S * FRAMES_PER_SECOND)
        self._tail = int(SEGMENT_TAIL_S * FRAMES_PER_SECOND)
        self._live_head = int(LIVE_HEAD_S * FRAMES_PER_SECOND)
        self.frame_capacity = self._capacity()
        self._store = _FrameStore(self.frame_capacity)
        self._windows = 0
        self._frozen = _NoteList()
        self._settled = 0  # frames before this are frozen: notes with onsets there will not change
        self._sounding_until = np.full(N_PITCHES, -1, np.int64)  # latest frozen offset frame per pitch
        self._finished = False
        self._peak_held = 0
        self.segments = 0  # segment decodes so far

    def _capacity(self) -> int:
        """The most frames ever held: a whole-decoded take (all of it, and the windows that come before the
        first segments, whose context reaches back to the start, free any), or one segment decode with the
        window that completes it and the 2 lead frames; then the final zero-padded windows."""
        catch_up = -(-(self._head + DIFF_LEAD) // self._step) + 1
        whole = (_windows_for(self.decode_whole_samples) + catch_up) * FRAMES_PER_WINDOW
        segment = self._head + self._step + self._tail + DIFF_LEAD + FRAMES_PER_WINDOW
        flush = -(-WINDOW // HOP) + 1  # zero-padded windows at the end
        return max(whole, segment) + flush * FRAMES_PER_WINDOW

    @property
    def frames_done(self) -> int:
        """Posteriorgram frames computed so far (from complete model windows)."""
        return self._windows * FRAMES_PER_WINDOW

    @property
    def frames_held(self) -> int:
        """Posteriorgram frames held now (never more than ``frame_capacity``)."""
        return self._store.count

    @property
    def peak_frames_held(self) -> int:
        """The most posteriorgram frames held at once so far."""
        return max(self._peak_held, self._store.peak_count)

    @property
    def settled_until_s(self) -> float:
        """Every note with an onset before this time (s) will not change any more (0 while a take may still
        end within ``DECODE_WHOLE_S``, since its notes then come from one decode of all of it)."""
        return _frame_time(self._settled)

    @property
    def long_take(self) -> bool:
        """Longer than ``decode_whole_s``: the final notes come from segment decodes."""
        return self.n_samples > self.decode_whole_samples

    def feed(self, samples: np.ndarray) -> None:
        if self._finished:
            raise TranscriberError("audio fed after the final notes were taken")
        self.n_samples += len(samples)
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32)])
        while len(self._buffer) >= WINDOW:
            self._run(self._buffer[:WINDOW])
            self._buffer = self._buffer[HOP:]
            self._freeze_ready(limit=1)  # one segment per window at most: catching up spreads over blocks

    def _run(self, window: np.ndarray) -> None:
        started = time.perf_counter()
        note, onset = self.session.run(list(OUTPUTS.values()), {self.input_name: window[None, :, None]})
        half = OVERLAP_FRAMES // 2
        self._store.append(note[0, half:-half], onset[0, half:-half])
        self._windows += 1
        self.seconds_spent += time.perf_counter() - started

    def _flush(self) -> None:
        """Run the last, zero-padded windows, as basic-pitch does at the end of a file."""
        while len(self._buffer) > 0 and (self.n_samples + OVERLAP // 2) > self._windows * HOP:
            window = np.zeros(WINDOW, dtype=np.float32)
            window[: min(WINDOW, len(self._buffer))] = self._buffer[:WINDOW]
            self._run(window)
            self._buffer = self._buffer[HOP:]

    def _decode(self, first: int, stop: int, peaks_until: int | None = None) -> list[Event]:
        """basic-pitch's decode of frames ``first..stop`` (absolute): with its own onset inference (the whole
        take), or with ``peaks_until``, its rescaling by the maxima over the take's frames before that."""
        note, onset = self._store.rows(first, stop)
        if len(note) < MIN_NOTE_FRAMES + 2:
            return []
        if peaks_until is not None:
            top_onset, top_diff = self._store.peaks(peaks_until)
            diff = _frame_diff(note, self._store.lead(first), first)
            with np.errstate(invalid="ignore", divide="ignore"):  # silence: 0 / 0, as in basic-pitch
                onset = np.maximum(onset, top_onset * diff / top_diff)
        # note and onset are views of the store: the decoder reads them (copies what it changes)
        with np.errstate(invalid="ignore", divide="ignore"):
            events = decode_notes(
                note,
                onset,
                onset_thresh=ONSET_THRESHOLD,
                frame_thresh=FRAME_THRESHOLD,
                min_note_len=MIN_NOTE_FRAMES,
                infer=peaks_until is None,
                melodia_trick=True,
            )
        return [(start + first, end + first, pitch, amplitude) for start, end, pitch, amplitude in events]

    def _new_notes(self, events: list[Event], low: int, high: int | None) -> list[Event]:
        """Events with onset frames in ``low..high`` that do not start while a frozen note of their pitch
        still sounds (the same note found again across a segment boundary)."""
        return [
            e
            for e in events
            if low <= e[0] and (high is None or e[0] < high) and e[0] >= self._sounding_until[e[2] - MIDI_OFFSET]
        ]

    def _freeze(self, events: list[Event], settled: int) -> None:
        self._frozen.extend(_as_rows(events))
        for start, end, pitch, _ in events:
            self._sounding_until[pitch - MIDI_OFFSET] = max(self._sounding_until[pitch - MIDI_OFFSET], end)
        self._settled = settled
        self._store.drop_before(max(0, settled - self._head - DIFF_LEAD))

    def _peaks_until(self, stop: int) -> int:
        """Segments rescale onsets by the maxima over the frames before their end, and at least over those of
        the first ``decode_whole_s`` (all computed once a take is known to be long): closer to the whole take's."""
        return max(stop, _windows_for(self.decode_whole_samples) * FRAMES_PER_WINDOW)

    def _freeze_ready(self, limit: int | None = None, available: int | None = None) -> None:
        """Freeze the segments whose frames are all computed (``available``: frames of the take)."""
        available = self.frames_done if available is None else available
        done = 0
        while (
            self.long_take and self._settled + self._step + self._tail <= available and (limit is None or done < limit)
        ):
            started = time.perf_counter()
            settled, stop = self._settled + self._step, self._settled + self._step + self._tail
            events = self._decode(max(0, self._settled - self._head), stop, self._peaks_until(stop))
            events = self._new_notes(events, self._settled, settled)
            self._freeze(events, settled)
            self.segments += 1
            done += 1
            log.debug(
                "froze %d notes up to %.1f s (segment %d, %.0f ms; %d frames held)",
                len(events),
                self.settled_until_s,
                self.segments,
                1000 * (time.perf_counter() - started),
                self.frames_held,
            )

    def _finish(self) -> None:
        """Decode the rest of the take: whole (short takes, as basic-pitch) or its last segments."""
        self._flush()
        if not self.long_take:
            # basic-pitch keeps floor(seconds x 86) frames of a file (cutting the last 0.7 % of long files)
            n_frames = min(int(np.floor(self.n_samples * (FRAMES_PER_SECOND / SAMPLE_RATE))), self.frames_done)
            self._freeze(self._decode(0, n_frames), n_frames)
        else:
            n_frames = min(_audio_frames(self.n_samples), self.frames_done)  # all the audio
            self._freeze_ready(available=n_frames)
            events = self._decode(max(0, self._settled - self._head), n_frames, self._peaks_until(n_frames))
            self._freeze(self._new_notes(events, self._settled, None), n_frames)
            log.info(
                "%.0f s transcribed in %d segments: %d notes",
                self.n_samples / SAMPLE_RATE,
                self.segments + 1,
                self._frozen.count,
            )
        self._finished = True
        self._peak_held = self._store.peak_count
        self._store = _FrameStore(0)  # the frames are no longer needed

    def notes(self, final: bool = False) -> list[Note]:
        """(onset s, offset s, MIDI pitch, amplitude 0..1) of the audio so far, sorted; ``final``: all of it
        (ends the take). Not final: ``live_notes(0)`` (its decode grows up to the frames held)."""
        if not final:
            return self.live_notes(0.0)
        if not self._finished:
            self._finish()
        return _as_tuples(self._frozen.since(-np.inf))

    def frozen_notes(self, since_s: float) -> list[Note]:
        """The notes with onsets at or after ``since_s`` that will not change any more (no decoding)."""
        return _as_tuples(self._frozen.since(since_s))

    def live_notes(self, since_s: float) -> list[Note]:
        """The notes with onsets at or after ``since_s`` as they stand now: the frozen ones, and a decode of
        the frames not yet frozen from ``since_s`` (with ``LIVE_HEAD_S`` of context) to the last one."""
        frozen = self._frozen.since(since_s)
        if self._finished:
            return _as_tuples(frozen)
        low = max(self._settled, _first_frame_at(since_s))
        first = max(self._store.start + DIFF_LEAD if self._store.start else 0, low - self._live_head)
        live = []
        if low < self.frames_done:
            live = self._new_notes(self._decode(first, self.frames_done, self.frames_done), low, None)
        rows = _as_rows(live)
        return _as_tuples(frozen) + _as_tuples(rows[rows["onset"] >= since_s])


def notes_to_table(notes: list[Note], source: str) -> NoteTable | None:
    """Transcribed notes as a NoteTable (velocity from amplitude as basic-pitch writes MIDI; no pedal)."""
    if not notes:
        return None
    onset, offset, pitch, amplitude = (np.array(col) for col in zip(*notes))
    velocity = np.clip(np.round(127 * amplitude), 1, 127).astype(int)
    return NoteTable.from_arrays(onset, np.maximum(offset, onset), pitch, velocity, source=source)
