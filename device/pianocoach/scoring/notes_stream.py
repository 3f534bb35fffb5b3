"""Notes as they arrive: a MIDI event tracker, and audio through resampling and streaming transcription.

Both give the notes of a recent stretch while playing (``window``: what a live score needs, at a cost
that depends on the stretch, never on how long the take already is) and the whole take at the end
(``final``). A performance fed in blocks ends with exactly the table it gives when fed whole.
"""

from __future__ import annotations

import bisect
import logging
from array import array

import numpy as np

from pianocoach.features import NoteTable
from pianocoach.features.note_velocity import OnsetFrames
from pianocoach.features.notes import SOFT_CC, SUSTAIN_CC
from pianocoach.features.pedal_frames import PedalTracker, settled_events
from pianocoach.features.sound_profile import SoundProfile
from pianocoach.inputs.base import Block, MidiEvent
from pianocoach.scoring.note_end_model import NoteEndModel, NoteEndModelError
from pianocoach.scoring.pedal_model import HeardPedal, PedalModel, PedalModelError, pedal_from_probabilities
from pianocoach.scoring.velocity_model import VelocityModel, VelocityModelError
from pianocoach.transcription import FFT_HOP, SAMPLE_RATE, StreamingTranscriber, notes_to_table

log = logging.getLogger(__name__)

CLIP_LEVEL = 0.999  # samples at or above this magnitude count as clipped
SILENCE_DB = -60.0  # frames quieter than this (dBFS) are silence
LOUDNESS_FRAME_S = 0.05  # loudness is measured in 50 ms frames
SETTLE_S = 1.0  # transcribed notes this close to the last transcribed frame may still change


def changes_in_window(times, start: float | None, end: float | None) -> slice:
    """Which of a pedal's changes (``times`` sorted) a window [start, end) needs: those before ``end``, from
    the last one at or before ``start`` on (the pedal's state at the window's start; the features never
    look further back). The live tracker and the finished take's windows both cut this way."""
    first = max(0, bisect.bisect_right(times, start) - 1) if start is not None else 0
    return slice(first, bisect.bisect_left(times, end) if end is not None else len(times))


class PedalTrack:
    """One pedal's (time, value) changes, in arrival (= time) order, compactly."""

    def __init__(self) -> None:
        self.times, self.values = array("d"), array("d")

    def add(self, time: float, value: int) -> None:
        self.times.append(time)
        self.values.append(value)

    def rows(self, start: float | None = None, end: float | None = None) -> np.ndarray:
        """The (time, value) rows a window needs (:func:`changes_in_window`)."""
        part = changes_in_window(self.times, start, end)
        if part.stop <= part.start:
            return np.zeros((0, 2))
        return np.stack([np.asarray(self.times[part]), np.asarray(self.values[part])], axis=1)


class MidiNoteTracker:
    """Notes in onset order (events arrive in time order); a held key has no offset until released."""

    def __init__(self, source: str = "MIDI") -> None:
        self.source = source
        self._open: dict[int, int] = {}  # pitch -> index of its note
        self.onset, self.offset = array("d"), array("d")  # offset NaN while the key is held
        self.pitch, self.velocity = array("h"), array("h")
        self.pedal, self.soft = PedalTrack(), PedalTrack()
        self.end = 0.0

    def __len__(self) -> int:
        return len(self.onset)

    def feed(self, events: tuple[MidiEvent, ...] | list[MidiEvent]) -> None:
        for event in events:
            self.end = max(self.end, event.time)
            if event.kind == "on":
                if event.number in self._open:  # re-struck while held: the earlier note ends here
                    self._close(event.number, event.time)
                self._open[event.number] = len(self.onset)
                self.onset.append(event.time)
                self.offset.append(np.nan)
                self.pitch.append(event.number)
                self.velocity.append(event.value)
            elif event.kind == "off":
                if event.number in self._open:
                    self._close(event.number, event.time)
            elif event.number == SUSTAIN_CC:
                self.pedal.add(event.time, event.value)
            elif event.number == SOFT_CC:
                self.soft.add(event.time, event.value)

    def _close(self, pitch: int, time: float) -> None:
        index = self._open.pop(pitch)
        self.offset[index] = max(time, self.onset[index])

    def covered_until(self, now: float) -> float:
        """Every note that began before this time is known (MIDI arrives without delay)."""
        return now

    def window(self, start: float, end: float, now: float) -> NoteTable | None:
        """The notes begun in [start, end) as known at ``now``, released at ``end`` at the latest (keys
        still held end at ``now``): exactly the window of the finished take (``session.window_table``)."""
        first, last = bisect.bisect_left(self.onset, start), bisect.bisect_left(self.onset, end)
        return self._table(first, last, now, start, end)

    def final_until(self, now: float) -> float:
        """Windows ending by this time hold their final notes; a live MIDI window already does."""
        return -np.inf

    def final(self) -> NoteTable | None:
        return self._table(0, len(self.onset), self.end)

    def settled(self, start: float, end: float, now: float) -> NoteTable | None:
        """The notes begun in [start, end): a key's onset and pitch are known when it is struck."""
        return self.window(start, end, now)

    def _table(
        self, first: int, last: int, now: float, start: float | None = None, end: float | None = None
    ) -> NoteTable | None:
        if last <= first:
            return None
        onset = np.asarray(self.onset[first:last])
        offset = np.asarray(self.offset[first:last])
        offset = np.where(np.isnan(offset), np.maximum(now, onset), offset)
        if end is not None:
            offset = np.minimum(offset, end)
        return NoteTable.from_arrays(
            onset,
            offset,
            np.asarray(self.pitch[first:last]),
            np.asarray(self.velocity[first:last]),
            pedal_events=self.pedal.rows(start, end),
            soft_pedal_events=self.soft.rows(start, end),
            source=self.source,
        )


class AudioLevels:
    """Loudness in fixed 50 ms frames counted from the first sample (so blocking cannot move them)
    and clipped samples."""

    def __init__(self) -> None:
        self.frame_db = array("d")  # 20 frames a second: 576 KB for an hour
        self.clipped = 0
        self.samples = 0
        self._rest = np.zeros(0, dtype=np.float32)
        self._frame = 0

    def feed(self, audio: np.ndarray, sample_rate: int) -> None:
        self._frame = max(1, int(round(LOUDNESS_FRAME_S * sample_rate)))
        self.samples += len(audio)
        self.clipped += int((np.abs(audio) >= CLIP_LEVEL).sum())
        data = np.concatenate([self._rest, audio])
        whole = len(data) // self._frame * self._frame
        frames = data[:whole].reshape(-1, self._frame).astype(np.float64)
        self.frame_db.frombytes((20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-10)).astype(np.float64).tobytes())
        self._rest = data[whole:]


class AudioNoteStream:
    """Transcribe a capture (already resampled to 22,050 Hz by the session, see
    :class:`~pianocoach.scoring.resample.StreamResampler`) and keep its loudness frames (at the capture's rate)."""

    def __init__(
        self,
        source: str = "audio",
        transcriber: StreamingTranscriber | None = None,
        pedal: PedalModel | None = None,
        velocity: VelocityModel | None = None,
        note_end: NoteEndModel | None = None,
    ) -> None:
        self.source = source
        self.transcriber = transcriber or StreamingTranscriber()
        self.levels = AudioLevels()
        self.profile = SoundProfile()  # what the take sounds like: is it a piano? (scoring.sound_check)
        # the sustain pedal heard (the bundle's pedal model reads the profile's frames); None: not heard
        self.pedal_tracker: PedalTracker | None = pedal.tracker() if pedal is not None else None
        self._settled_pedal: tuple[int, tuple[np.ndarray, float]] | None = None  # (frames run, settled_events)
        # the key velocities heard (the bundle's velocity model reads the same frames); None: not heard
        self.velocity_model = velocity
        # when the notes stop sounding (the note-end model reads the frames and the pedal heard); None: not heard
        self.note_end_model = note_end if self.pedal_tracker is not None else None
        kept = velocity is not None or self.note_end_model is not None
        self.onset_frames: OnsetFrames | None = OnsetFrames() if kept else None  # float16: 80 bytes a 46 ms frame
        self.sample_rate = 0

    def _hear_pedal(self, bands: np.ndarray) -> None:
        if self.pedal_tracker is None:
            return
        try:
            self.pedal_tracker.add(bands)
        except (PedalModelError, ValueError) as exc:  # the tracker refuses a wrong count of probabilities
            log.warning("%s: %s; its pedal is unknown", self.source, exc)
            self.pedal_tracker = None

    def _keep_frames(self, bands: np.ndarray) -> np.ndarray:
        """Keep the frames (float16) when a model reads them later, and give them on as the pedal model reads them:
        rounded to float16 as the renders its models learned from keep them (within 0.03 dB; a tree's threshold
        between the two would otherwise end a note where training never did)."""
        rounded = np.asarray(bands, dtype=np.float16).astype(np.float32)
        if self.onset_frames is not None:
            self.onset_frames.add(rounded)
        return rounded

    def heard_velocities(self, table: NoteTable) -> NoteTable | None:
        """``table`` (notes of this take: the whole take after :meth:`final`, or a window of it) with the key velocities
        the bundle's velocity model hears over the frames its notes span; None without a model, without frames, or
        when the model failed (it is then dropped for the take: the velocities are unknown)."""
        if self.velocity_model is None or self.onset_frames is None or not self.onset_frames.count:
            return None  # no model, or no frames to hear them in
        try:
            velocity = self.velocity_model.velocities(self.onset_frames.features(table))
        except VelocityModelError as exc:
            log.warning("%s: %s; its velocities are unknown", self.source, exc)
            self.velocity_model = None
            return None
        return table.with_columns(velocity=velocity)

    def heard_ends(self, table: NoteTable) -> NoteTable | None:
        """The take's notes (after :meth:`final`, with the transcriber's amplitudes as velocities, as the model learned)
        ending when the bundle's note-end model hears them stop sounding; None without a model, without frames or
        pedal, or when it failed (it is then dropped for the take: the notes keep the ends the transcriber heard)."""
        if self.note_end_model is None or self.onset_frames is None or not self.onset_frames.count:
            return None
        pedal = self._pedal_probabilities()
        if pedal is None:
            return None
        try:
            ends = self.note_end_model.ends(table, pedal, self.onset_frames.bands())
        except NoteEndModelError as exc:
            log.warning("%s: %s; its notes keep the ends the transcriber heard", self.source, exc)
            self.note_end_model = None
            return None
        return table.with_columns(offset=ends)

    def _pedal_probabilities(self) -> np.ndarray | None:
        """The pedal model's probability per frame over the take (after :meth:`final`); None without a model or when it
        failed (it is then dropped for the take)."""
        if self.pedal_tracker is None:
            return None
        try:
            return self.pedal_tracker.finish()
        except (PedalModelError, ValueError) as exc:  # the tracker refuses a wrong count of probabilities
            log.warning("%s: %s; its pedal is unknown", self.source, exc)
            self.pedal_tracker = None
            return None

    def settled_pedal(self) -> tuple[np.ndarray, float] | None:
        """The pedal events heard so far and the time before which they are final (those :meth:`heard_pedal` will
        give); None without a model or when it failed. Recomputed only when the tracker has run a new chunk."""
        if self.pedal_tracker is None:
            return None
        ran = self.pedal_tracker.ran
        if self._settled_pedal is None or self._settled_pedal[0] != ran:
            self._settled_pedal = (ran, settled_events(self.pedal_tracker.known()))
        return self._settled_pedal[1]

    def heard_pedal(self) -> HeardPedal | None:
        """The pedal the bundle's pedal model heard over the take (after :meth:`final`); None without a model or
        when it failed."""
        probabilities = self._pedal_probabilities()
        if probabilities is None:
            return None
        try:
            return pedal_from_probabilities(probabilities)
        except (PedalModelError, ValueError) as exc:
            log.warning("%s: %s; its pedal is unknown", self.source, exc)
            self.pedal_tracker = None
            return None

    def feed(self, block: Block, resampled: np.ndarray) -> None:
        """``block``: the capture as it came; ``resampled``: its samples at the transcriber's 22,050 Hz."""
        self.sample_rate = block.sample_rate
        assert block.audio is not None, "an audio note stream takes audio blocks"
        self.levels.feed(block.audio, block.sample_rate)
        self._hear_pedal(self._keep_frames(self.profile.feed(resampled)))
        self.transcriber.feed(resampled)

    @property
    def end(self) -> float:
        return self.levels.samples / self.sample_rate if self.sample_rate else 0.0

    def covered_until(self, now: float) -> float:
        """Transcription lags the audio by up to one model window; notes are settled up to a second
        before the last transcribed frame."""
        return self.transcriber.frames_done * FFT_HOP / SAMPLE_RATE - SETTLE_S

    def window(self, start: float, end: float, now: float) -> NoteTable | None:
        """The transcribed notes begun in [start, end), released at ``end`` at the latest, as they stand
        now (only recent frames are decoded)."""
        notes = [(a, min(b, end), p, amp) for a, b, p, amp in self.transcriber.live_notes(start) if a < end]
        return notes_to_table(notes, self.source)

    def final_until(self, now: float) -> float:
        """Windows ending by this time hold their final notes (the transcription froze them)."""
        return self.transcriber.settled_until_s

    def settled(self, start: float, end: float, now: float) -> NoteTable | None:
        """The notes begun in [start, end) that will not change (``end`` at most :meth:`final_until`), without
        decoding anything."""
        return notes_to_table([n for n in self.transcriber.frozen_notes(start) if n[0] < end], self.source)

    def final(self, rest: np.ndarray) -> NoteTable | None:
        """``rest``: the resampler's last samples."""
        self._hear_pedal(self._keep_frames(self.profile.feed(rest)))
        self.transcriber.feed(rest)
        return notes_to_table(self.transcriber.notes(final=True), self.source)
