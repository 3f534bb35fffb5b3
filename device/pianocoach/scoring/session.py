"""One performance, block by block: notes so far, windowed descriptors, scores, and the final result.

Scoring windows: every ``block_seconds`` along the performance (a fixed grid counted from its start),
the scorer sees the notes that began in the last ``window_seconds`` (PercePiano clips, which the scorer
learned from, are 5-90 s long, median 12 s). While playing, each block gives a provisional result for
its window. At the end the windows are scored again on the final notes (a window whose notes did not
change reuses its live result) and aggregated: the plain mean, and a mean weighted by each window's new
notes times their loudness, so quiet pauses count little. A take no longer than ``whole_take_max_s`` (the
longest clips the scorer learned from) is instead scored as one vector of the whole take, exactly as in
training: averaging its windows lost 0.08 R² on the performer test list. Because the grid does not depend
on how the input was cut into blocks, a file streamed in 2 s blocks and the same file fed whole give the
same result.

Audio input is resampled once, to the 22,050 Hz the transcriber and the audio features share, and fanned
out to both. When the bundle's ``audio_path`` uses its audio scorer, it is also turned into 2 s feature
blocks (``features.audio``) and scored block by block; the performance's audio-model result is the mean
and the onset-activity-weighted mean of its blocks, used alone or fused with the notes path as the
manifest says. Transcription always runs: the measurements come from its notes. When the bundle's transcription
scorer learned from the pedal its pedal model hears, the notes carry that pedal before they are scored: the whole
take at the end; a long take's windows once their pedal is final too (the pedal model runs about 12 s behind), so the
end re-scores only the last ones; the live windows with the pedal heard so far (provisional).

The result holds numbers only; the feedback text is a step the caller runs afterwards
(:func:`pianocoach.scoring.result.write_feedback`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np

from pianocoach.errors import PianoCoachError
from pianocoach.features import NoteTable, ScoreContext, feature_vector, performance_values
from pianocoach.features.audio import AudioFeatureStream
from pianocoach.inputs.base import BLOCK_SECONDS, Block
from pianocoach.rating_scales import SCALE_NAMES
from pianocoach.repertoire.context import score_context
from pianocoach.repertoire.fundamentals import two_layer_mark
from pianocoach.repertoire.identify import RepertoireIndex
from pianocoach.repertoire.score_roll import score_notes_in_take
from pianocoach.scoring.bundle_scorer import BundleScorer
from pianocoach.scoring.following import LiveFollowing, take_fundamentals
from pianocoach.scoring.input_limits import input_limits, limits_so_far
from pianocoach.scoring.limits import FILE_SILENCE_STOP_S, TakeLimits, TakeWatch, block_level
from pianocoach.scoring.measures import measures
from pianocoach.scoring.notes_stream import SILENCE_DB, AudioNoteStream, MidiNoteTracker, changes_in_window
from pianocoach.scoring.pedal_model import HeardPedal
from pianocoach.scoring.resample import StreamResampler
from pianocoach.scoring.result import MAX_PLAYED_NOTES, BlockResult, PerformanceResult
from pianocoach.scoring.sound_check import judge
from pianocoach.transcription import SAMPLE_RATE as TRANSCRIPTION_RATE

log = logging.getLogger(__name__)


class NoPlayingError(PianoCoachError):
    """Nothing was played (silence, or a MIDI stream without notes)."""


class TooShortError(PianoCoachError):
    """Less playing than the scorer needs."""


class NotAPerformanceError(PianoCoachError):
    """More notes than a pianist plays, or scores that are not numbers: refused, never stored."""


@dataclass(frozen=True)
class SessionSettings:
    block_seconds: float = BLOCK_SECONDS
    window_seconds: float = 20.0
    min_playing_s: float = 3.0  # shorter performances are refused
    min_window_notes: int = 8  # a window with fewer notes is not scored
    # more notes than this in one window is not a piano performance (100 a second for 20 s); the window
    # descriptors cost grows with the square of the chords in a window, so this also bounds their time
    max_window_notes: int = 2000
    # a take up to this long is scored at the end as one vector of the whole take, as the scorer learned from
    # PercePiano's clips (5-90 s); the windows' mean lost 0.08 R² on the performer test list (issue 19, item 5)
    whole_take_max_s: float = 95.0
    clip_warn_fraction: float = 0.001  # warn when more than 0.1 % of samples are clipped
    # a microphone take is checked for sounding like a piano, loud and clear enough (scoring.sound_check); the
    # install's health check turns it off for its synthesised tones, which are no piano
    check_sound: bool = True
    language: str = "en"  # "en" or "zh"
    # the MIDI instrument sends the sustain pedal, so a take without CC64 was played without it
    # (False: the pedal of such a take is unknown, :mod:`pianocoach.scoring.input_limits`)
    midi_sends_pedal: bool = False


@dataclass
class Timing:
    transcription: float = 0.0
    features: float = 0.0
    inference: float = 0.0
    following: float = 0.0  # identifying the piece, aligning with its score, the fundamentals

    def to_dict(self) -> dict:
        return {k: round(v, 4) for k, v in vars(self).items()}


def window_table(table: NoteTable, start: float, end: float) -> NoteTable | None:
    """What had been played by ``end``: notes that began in [start, end), keys still down at ``end``
    released there, and the pedal changes before ``end`` from the last one at or before ``start`` on
    (earlier ones cannot change the features). A window therefore looks the same live and afterwards,
    so its live score is reused at the end. The table's onsets are sorted: the window is found by
    bisection, at a cost independent of the take's length."""
    first, last = np.searchsorted(table.onset, [start, end], side="left")
    if last <= first:
        return None
    return NoteTable.from_arrays(
        table.onset[first:last],
        np.minimum(table.offset[first:last], end),
        table.pitch[first:last],
        table.velocity[first:last],
        pedal_events=_events_between(table.pedal_events, start, end),
        soft_pedal_events=_events_between(table.soft_pedal_events, start, end),
        source=table.source,
    )


def _events_between(events: np.ndarray, start: float, end: float) -> np.ndarray:
    return events[changes_in_window(events[:, 0], start, end)] if len(events) else events


def _notes_key(table: NoteTable) -> str:
    """The notes of a table (not its pedals): what the velocities heard in it depend on, with the frames."""
    digest = hashlib.sha256()
    for array in (table.onset, table.offset, table.pitch, table.velocity):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _content_key(table: NoteTable) -> str:
    digest = hashlib.sha256()
    for array in (table.onset, table.offset, table.pitch, table.velocity, table.pedal_events, table.soft_pedal_events):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class ScoringSession:
    def __init__(
        self,
        scorer: BundleScorer,
        kind: str,
        name: str,
        settings: SessionSettings = SessionSettings(),
        notes: MidiNoteTracker | AudioNoteStream | None = None,
        repertoire: RepertoireIndex | None = None,
        piece_id: str | None = None,
    ) -> None:
        self.scorer = scorer
        self.repertoire = repertoire  # when given, the result says which piece was played (from the final notes)
        self.piece_id = piece_id  # the piece set by hand (one of the repertoire's), else identified
        self.kind = kind
        self.name = name
        self.settings = settings
        self.notes = notes or (
            AudioNoteStream(name, pedal=scorer.pedal_model, velocity=scorer.velocity_model)
            if kind == "audio"
            else MidiNoteTracker(name)
        )
        self.timing = Timing()
        self.blocks: list[BlockResult] = []
        self.overflows = 0
        self._cache: dict[str, dict[str, float]] = {}  # window content -> its performance descriptors
        self.windows_computed = 0  # windows whose descriptors were computed (not found in the cache)
        self._heard_windows: dict[str, np.ndarray] = {}  # settled windows' heard velocities, by their notes
        self.rescored_at_end = 0  # of those, the ones computed by finish()
        self._live_windows = 0  # grid windows already scored while playing
        self._final_windows = 0  # grid windows scored on their final notes (a long audio take's settled part)
        self._first_onset = np.inf  # the earliest note seen in any window
        self.audio_path = scorer.audio_path
        use_audio_model = kind == "audio" and self.audio_path.uses_audio_model
        self.audio_features = AudioFeatureStream() if use_audio_model else None
        # each audio block is resampled once, to the rate the transcriber and the audio features share
        self._resampler = StreamResampler(TRANSCRIPTION_RATE, name)
        if self.audio_features is not None and self.audio_features.settings.sample_rate != TRANSCRIPTION_RATE:
            raise ValueError(
                f"audio features at {self.audio_features.settings.sample_rate} Hz, transcription at "
                f"{TRANSCRIPTION_RATE} Hz: one resampled stream cannot feed both"
            )
        self.audio_blocks: list[tuple[np.ndarray, float]] = []  # (scores, activity) per 2 s feature block
        self._last_window: np.ndarray | None = None
        self.notes_seen = 0  # notes in the newest live window (what a live display counts)
        self.stop_warning = ""  # why the take ended before its input did (a length limit, a long gap)
        self.piano_probability: float | None = None  # a microphone take's, from the bundle's sound check
        # while playing: the piece and bar the newest window's notes match ({"id", "title", "confidence", "bar"},
        # id None: no piece yet), for the listening screen; None without a repertoire
        self.live_piece: dict | None = None
        self.following = LiveFollowing(repertoire, piece_id, transcribed=kind == "audio")

    # -- while playing ---------------------------------------------------------------------------
    def add(self, block: Block) -> BlockResult | None:
        """Take one block; returns the provisional result of the newest window the notes so far cover
        (None until there are 3 s of playing). Its cost depends on the window, not on the take so far."""
        started = time.perf_counter()
        if block.kind != self.kind:
            article = "an" if block.kind == "audio" else "a"
            raise ValueError(f"{self.name}: {article} {block.kind} block in a {self.kind} session")
        resampled = None
        if block.kind == "audio":
            assert block.audio is not None and isinstance(self.notes, AudioNoteStream)  # an audio session's block
            resampled = self._resampler.feed(block.audio, block.sample_rate)
            self.notes.feed(block, resampled)
        else:
            assert isinstance(self.notes, MidiNoteTracker)  # a MIDI session's block
            self.notes.feed(block.events)
        self.overflows = max(self.overflows, block.overflows)
        covered = self.notes.covered_until(block.end)
        self._count_notes_time(started)
        scores = None
        while self._next_window_end() <= covered:
            end = self._next_window_end()
            self._live_windows += 1
            notes_started = time.perf_counter()
            start = end - self.settings.window_seconds
            window = self._with_pedal_so_far(self._as_learned(self.notes.window(start, end, block.end)), start, end)
            self._count_notes_time(notes_started)
            if window is None:
                continue
            self.notes_seen = len(window)
            self._follow(window)
            self._first_onset = min(self._first_onset, window.start)
            if end - self._first_onset < self.settings.min_playing_s:
                continue
            window_scores = self._window_scores(window)
            if window_scores is not None:
                scores = self._last_window = window_scores
        self._score_settled_windows(block.end)
        self._follow_score(block.end)
        if self.audio_features is not None:
            assert resampled is not None  # audio features exist only in an audio session
            features_started = time.perf_counter()
            # already at the features' rate, so AudioFeatureStream passes it through without resampling
            feature_blocks = self.audio_features.feed(resampled, TRANSCRIPTION_RATE)
            self.timing.features += time.perf_counter() - features_started
            new = self._score_audio_blocks(feature_blocks)
            if new is not None:
                scores = self._combine(new, self._last_window)
        result = None
        if scores is not None:
            result = BlockResult(
                block.index,
                block.start,
                block.end,
                scores,
                self.scorer.expression_mark(scores, unknown := self._live_unknown_scales()),
                round(time.perf_counter() - started, 4),
                tuple(unknown),
            )
            self.blocks.append(result)
        return result

    def _reads_heard(self, learned: bool) -> bool:
        """Whether this take's notes are scored with something a bundle model hears in them (``learned``: the
        transcription scorer learned from that model's output): only a microphone take's, read by the scorer."""
        return (
            self.kind == "audio" and learned and self.audio_path.mode != "audio_model"
        )  # the audio model reads no notes

    def _hears_pedal(self) -> bool:
        """The pedal the bundle's pedal model hears (the transcription scorer learned from it)."""
        return self._reads_heard(self.scorer.transcription_hears_pedal)

    def _hears_velocity(self) -> bool:
        """The key velocities the bundle's velocity model hears (the transcription scorer learned from them)."""
        return self._reads_heard(self.scorer.transcription_hears_velocity)

    def _as_learned(self, table: NoteTable | None, keep: bool = False) -> NoteTable | None:
        """Notes as the transcription scorer learned them: with the key velocities heard over the table's own span
        (a window's, or the whole take's; :mod:`pianocoach.features.note_velocity`), when it learned from those. A
        velocity model that failed leaves basic-pitch's (``finish`` warns). ``keep``: a settled window's, kept for the
        end (one array of velocities a window, as the windows' descriptors are)."""
        if table is None or not self._hears_velocity() or not isinstance(self.notes, AudioNoteStream):
            return table
        key = _notes_key(table)
        if key in self._heard_windows:
            return table.with_columns(velocity=self._heard_windows[key])
        heard = self.notes.heard_velocities(table)
        if heard is None:
            return table
        if keep:
            self._heard_windows[key] = heard.velocity
        return heard

    def _with_pedal_so_far(self, window: NoteTable | None, start: float, end: float) -> NoteTable | None:
        """A live window with the pedal heard so far (the tracker runs about 12 s behind: a provisional result)."""
        if window is None or not self._hears_pedal() or not isinstance(self.notes, AudioNoteStream):
            return window
        settled = self.notes.settled_pedal()
        if settled is None:
            return window
        return window.with_columns(pedal_events=_events_between(settled[0], start, end))

    def _live_unknown_scales(self) -> list[str]:
        """The scales the input cannot show so far: the live mark and hint leave them out as the result does."""
        pedal_seen = isinstance(self.notes, MidiNoteTracker) and len(self.notes.pedal.times) > 0
        return limits_so_far(self.kind, pedal_seen, self.settings.midi_sends_pedal).unknown_scales

    def _follow(self, window: NoteTable) -> None:
        """Which piece the newest window's notes match (an index lookup per n-gram: well under a millisecond for
        a 20 s window)."""
        if self.repertoire is None:
            return
        started = time.perf_counter()
        self.live_piece = self.following.identify(window)
        self.timing.following += time.perf_counter() - started

    def _follow_score(self, now: float) -> None:
        """Feed the notes settled since the last block to the score follower of the piece (the bar the player
        is in goes to ``live_piece``)."""
        if self.repertoire is None or self.live_piece is None:
            return
        started = time.perf_counter()
        settled = self.notes.covered_until(now) if self.kind == "midi" else self.notes.final_until(now)
        self.live_piece = self.following.follow(self.live_piece, self.notes, settled, now)
        self.timing.following += time.perf_counter() - started

    def _score_settled_windows(self, now: float) -> None:
        """Compute each window's performance descriptors once its notes are final (cached by content), so the end
        of a long take computes only its last windows': at most one more window a block. Its scores wait for the
        end (they need the final alignment)."""
        final_until = self.notes.final_until(now)
        pedal = None
        if self._hears_pedal():
            # the scorer reads the heard pedal: a window is final once its pedal is too (the end scores it with it);
            # without a pedal heard, the end scores the windows on their notes alone, as they are now
            settled = self.notes.settled_pedal() if isinstance(self.notes, AudioNoteStream) else None
            if settled is not None:
                pedal, pedal_until = settled
                final_until = min(final_until, pedal_until)
        end = (self._final_windows + 1) * self.settings.block_seconds
        if end <= min(final_until, self._live_windows * self.settings.block_seconds):
            self._final_windows += 1
            start = end - self.settings.window_seconds
            window = self._as_learned(self.notes.window(start, end, now), keep=True)
            if window is not None and pedal is not None:
                window = window.with_columns(pedal_events=_events_between(pedal, start, end))
            if window is not None and end - min(self._first_onset, window.start) >= self.settings.min_playing_s:
                self._window_values(window)

    def _score_audio_blocks(self, blocks) -> np.ndarray | None:
        """Score new audio feature blocks; returns the newest block's scores (None when none came)."""
        newest = None
        for features in blocks:
            started = time.perf_counter()
            newest = self.scorer.score_audio_block(features.feeds())
            self.timing.inference += time.perf_counter() - started
            self.audio_blocks.append((newest, features.activity))
        return newest

    def _combine(self, audio: np.ndarray | None, notes: np.ndarray | None) -> np.ndarray | None:
        """The manifest's audio path: the audio model alone, or fused with the notes path."""
        if audio is None or self.audio_path.mode == "transcription":
            return notes
        if self.audio_path.mode == "audio_model" or notes is None:
            return audio
        w = self.audio_path.audio_weight
        return w * audio + (1.0 - w) * notes

    def _audio_model_result(self, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(activity-weighted mean, plain mean) over the audio feature blocks; ``rest``: the resampler's last
        samples."""
        if self.audio_features is None:
            return None
        started = time.perf_counter()
        self._score_audio_blocks(self.audio_features.feed(rest, TRANSCRIPTION_RATE) + self.audio_features.finish())
        self.timing.features += time.perf_counter() - started
        if not self.audio_blocks:
            return None
        values = np.asarray([b[0] for b in self.audio_blocks], dtype=np.float64)
        weights = np.asarray([b[1] for b in self.audio_blocks], dtype=np.float64)
        mean = values.mean(axis=0)
        return (np.average(values, axis=0, weights=weights) if weights.sum() > 0 else mean), mean

    def _next_window_end(self) -> float:
        return (self._live_windows + 1) * self.settings.block_seconds

    def _count_notes_time(self, started: float) -> None:
        """Time spent turning input into notes: transcription for audio, part of features for MIDI."""
        spent = time.perf_counter() - started
        if self.kind == "audio":
            self.timing.transcription += spent
        else:
            self.timing.features += spent

    def _window_values(self, window: NoteTable | None) -> dict[str, float] | None:
        """The window's performance descriptors (the costly part), computed once per window content; None for a
        window of too few notes."""
        started = time.perf_counter()
        if window is None or len(window) < self.settings.min_window_notes:
            self.timing.features += time.perf_counter() - started
            return None
        if len(window) > self.settings.max_window_notes:
            raise NotAPerformanceError(
                f"{self.name}: {len(window)} notes within {self.settings.window_seconds:.0f} s "
                f"(more than {self.settings.max_window_notes}): not a piano performance"
            )
        key = _content_key(window)
        values = self._cache.get(key)
        if values is None:
            values = self._cache[key] = performance_values(window)
            self.windows_computed += 1
        self.timing.features += time.perf_counter() - started
        return values

    def _window_scores(self, window: NoteTable | None, context: ScoreContext | None = None) -> np.ndarray | None:
        """The window's 19 scores: its cached performance descriptors, and the score-relative ones from ``context``
        (None while playing: the take is aligned at the end)."""
        values = self._window_values(window)
        if values is None:
            return None
        assert window is not None  # values imply a window
        started = time.perf_counter()
        vector = feature_vector(window, context=context, performance=values)
        self.timing.features += time.perf_counter() - started
        started = time.perf_counter()
        scores = self.scorer.score(vector, self.kind)
        self.timing.inference += time.perf_counter() - started
        if not np.all(np.isfinite(scores)):
            raise NotAPerformanceError(
                f"{self.name}: the bundle's scorer gave values that are not numbers "
                f"(bundle {self.scorer.bundle_id}); nothing was stored"
            )
        return scores

    # -- at the end --------------------------------------------------------------------------------
    def _whole_take_scores(self, table: NoteTable, context: ScoreContext | None) -> np.ndarray | None:
        """The whole take's 19 scores from one descriptor vector, as the scorer was trained; None for a take longer
        than ``whole_take_max_s`` or with more notes than a window may hold (its windows are averaged instead)."""
        s = self.settings
        if table.end - table.start > s.whole_take_max_s or len(table) > s.max_window_notes:
            return None
        scores = self._window_scores(table, context)
        return None if scores is None else scores.astype(np.float64)  # as the windows' means: plain floats after

    def _scored_table(self, table: NoteTable, heard: HeardPedal | None, warnings: list[str]) -> NoteTable:
        """The notes the scorer reads: a microphone take's with the pedal heard in it when the bundle's transcription
        scorer learned from that pedal (every event, however sure: it learned how far to trust them)."""
        if not self._hears_pedal():
            return table
        if heard is None:
            warnings.append("the sustain pedal could not be heard in this take: its scores may be less accurate")
            return table
        return table.with_columns(pedal_events=heard.events)

    def finish(self) -> PerformanceResult:
        started = time.perf_counter()
        rest = self._resampler.flush()
        table = self.notes.final(rest) if isinstance(self.notes, AudioNoteStream) else self.notes.final()
        self._count_notes_time(started)
        warnings = self._check_input(table)
        assert table is not None  # _check_input raises when there are no notes
        s = self.settings
        end = self.notes.end
        grid = np.arange(s.block_seconds, end + s.block_seconds - 1e-9, s.block_seconds)
        grid = np.minimum(grid, end)
        following_started = time.perf_counter()
        against = take_fundamentals(table, self.kind, self.repertoire, self.piece_id, self.following.follower_of(table))
        context = score_context(against.alignment) if against.alignment is not None else None
        self.timing.following += time.perf_counter() - following_started
        spans = [(float(e) - s.window_seconds, float(e)) for e in grid if e - table.start >= s.min_playing_s]
        windows = sum(1 for a, b in spans if len(window_table(table, a, b) or ()) >= s.min_window_notes)
        if not windows:
            raise TooShortError(
                f"{self.name}: too few notes to score (at least {s.min_window_notes} in {s.window_seconds:.0f} s)"
            )
        heard = self.notes.heard_pedal() if isinstance(self.notes, AudioNoteStream) else None
        scored = self._scored_table(table, heard, warnings)
        # a microphone take's key velocities as the velocity model hears them over the whole take
        velocities = self.notes.heard_velocities(table) if isinstance(self.notes, AudioNoteStream) else None
        if self._hears_velocity() and velocities is None:
            warnings.append("the key velocities could not be heard in this take: its scores may be less accurate")
        # a take scored whole: its windows are only counted (their final descriptors, most of the end-of-play time of
        # a microphone take, would go unused, and a window's scores cannot fail it)
        whole_table = (
            scored.with_columns(velocity=velocities.velocity)
            if self._hears_velocity() and velocities is not None
            else scored
        )
        whole = self._whole_take_scores(whole_table, context)
        rows, weights = [], []
        computed_before = self.windows_computed  # the whole take's vector is not a window
        for start, window_end in spans if whole is None else []:
            window = self._as_learned(window_table(scored, start, window_end))  # heard over the window, as live
            window_context = None
            if context is not None:  # the window's notes are the table's rows first..last (window_table)
                first, last = np.searchsorted(table.onset, [start, float(window_end)], side="left")
                window_context = context.window(int(first), int(last))
            scores = self._window_scores(window, window_context)
            if scores is None:
                continue
            rows.append(scores)
            first, last = np.searchsorted(table.onset, [window_end - s.block_seconds, window_end], side="left")
            # weighted by the notes' loudness: the heard velocities when there are (basic-pitch's say little of it)
            recent = (velocities if velocities is not None else table).velocity[first:last]
            weights.append(float(len(recent)) * float(recent.mean() / 127.0) if len(recent) else 0.0)
        self.rescored_at_end = self.windows_computed - computed_before
        if whole is not None:
            weighted = mean = whole
        else:
            values = np.asarray(rows, dtype=np.float64)
            mean = values.mean(axis=0)
            weighted = np.average(values, axis=0, weights=weights) if sum(weights) > 0 else mean
        audio_model = self._audio_model_result(rest)
        if audio_model is not None:
            fused, fused_mean = self._combine(audio_model[0], weighted), self._combine(audio_model[1], mean)
            assert fused is not None and fused_mean is not None  # the notes path gave both
            weighted, mean = fused, fused_mean
        frame_db = np.asarray(self.notes.levels.frame_db) if isinstance(self.notes, AudioNoteStream) else None
        # a velocity model that failed on a window after the whole take: those windows fell back to basic-pitch's
        dropped = isinstance(self.notes, AudioNoteStream) and self.notes.velocity_model is None
        if self._hears_velocity() and dropped and velocities is not None:
            warnings.append("the key velocities could not be heard in this take: its scores may be less accurate")
        failed = self.kind == "audio" and self.scorer.velocity_model is not None and velocities is None
        limits = input_limits(
            self.kind, table, s.midi_sends_pedal, heard, velocities_heard=velocities is not None, velocity_failed=failed
        )
        measured = velocities if velocities is not None else table
        # the measures show the heard pedal only when the pedal model was sure enough of it
        if heard is not None and limits.pedal_estimated:
            measured = measured.with_columns(pedal_events=heard.events)
        found = measures(measured, frame_db)
        unknown = limits.unknown_scales
        if not (np.all(np.isfinite(weighted)) and np.all(np.isfinite(mean))):
            raise NotAPerformanceError(
                f"{self.name}: the bundle's audio scorer gave values that are not numbers "
                f"(bundle {self.scorer.bundle_id}); nothing was stored"
            )
        if self.stop_warning:
            warnings.append(self.stop_warning)
        piece, found_fundamentals = against.piece, against.fundamentals
        if against.warning:
            warnings.append(against.warning)
        expression = self.scorer.expression_mark(weighted, unknown)
        provisional = self.kind == "audio" and self.scorer.audio_is_provisional()
        if provisional:
            warnings.append(
                "scores are provisional: this bundle's scorer learned from MIDI, and a microphone "
                "transcription has no pedal and different dynamics"
            )
        return PerformanceResult(
            input=self.name,
            source=self.kind,
            duration_s=round(float(end), 3),
            scale_names=list(SCALE_NAMES),
            scale_values=[round(float(v), 4) for v in weighted],
            scale_values_mean=[round(float(v), 4) for v in mean],
            overall=two_layer_mark(found_fundamentals.factor, expression),
            overall_mean=two_layer_mark(found_fundamentals.factor, self.scorer.expression_mark(mean, unknown)),
            expression_mark=expression,
            measures=limits.mark_measures({k: m.to_dict() for k, m in found.items()}),
            unknown_scales=unknown,
            whole_take=whole is not None,
            provisional=provisional,
            warnings=warnings,
            windows=windows,
            bundle_id=self.scorer.bundle_id,
            timing={**self.timing.to_dict(), "finish": round(time.perf_counter() - started, 4)},
            language=s.language,
            audio_path=self.audio_path.mode if self.kind == "audio" else None,
            audio_blocks=len(self.audio_blocks),
            piece=piece,
            fundamentals=found_fundamentals.to_dict(),
            bars=found_fundamentals.bars,
            piano_probability=self.piano_probability,
            played_notes=played_rows(table),
            score_notes=(
                score_notes_in_take(against.alignment, MAX_PLAYED_NOTES) if against.alignment is not None else None
            ),
        )

    def _check_input(self, table: NoteTable | None) -> list[str]:
        warnings = []
        if isinstance(self.notes, AudioNoteStream):
            levels = self.notes.levels
            loud = np.asarray(levels.frame_db) > SILENCE_DB
            if table is None or not loud.any():
                raise NoPlayingError(f"{self.name}: no playing detected (silence)")
            if levels.samples and levels.clipped / levels.samples > self.settings.clip_warn_fraction:
                warnings.append(
                    f"the input is clipped in {100 * levels.clipped / levels.samples:.1f} % of samples: "
                    "lower the input gain or move the microphone back"
                )
        if table is None:
            raise NoPlayingError(f"{self.name}: no playing detected (no notes)")
        playing = table.end - table.start
        if playing < self.settings.min_playing_s:
            raise TooShortError(
                f"{self.name}: only {playing:.1f} s of playing; play at least {self.settings.min_playing_s:.0f} s"
            )
        if isinstance(self.notes, AudioNoteStream) and self.settings.check_sound:  # after "too short": that comes first
            verdict = judge(self.notes.profile, table, self.scorer.sound_check, self.name)  # may refuse the take
            self.piano_probability = verdict.piano_probability
            warnings += verdict.warnings
        if self.overflows:
            warnings.append(f"{self.overflows} microphone buffer overflow(s): some audio was lost")
        return warnings


def warm_up(kind: str) -> float:
    """Import and prepare what the first block would otherwise wait for (the feature modules, the mel filter
    bank); the daemon and the benchmark call it once at start. Nothing is compiled: the device's feature
    code is numpy. Returns the seconds it took."""
    started = time.perf_counter()
    beat = 0.5
    notes = [(i * beat, i * beat + 0.4, 60 + i % 12, 60) for i in range(16)]
    feature_vector(NoteTable.from_notes(notes))
    if kind == "audio":
        from pianocoach.features.audio import performance_features

        t = np.arange(2 * 22050) / 22050
        performance_features((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)
    return time.perf_counter() - started


def score_source(
    source,
    scorer: BundleScorer,
    settings: SessionSettings = SessionSettings(),
    on_block=None,
    limits: TakeLimits = TakeLimits(silence_stop_s=FILE_SILENCE_STOP_S),
    repertoire: RepertoireIndex | None = None,
    piece_id: str | None = None,
) -> PerformanceResult:
    """Run a whole input (file, microphone or MIDI port) through a session. The take ends at the input's
    end, at ``limits.max_seconds``, or after ``limits.silence_stop_s`` without playing (a file's long gap):
    the rest is not read, and the result says so. ``repertoire``: say which of its pieces was played and follow
    its score (``piece_id``: the piece set by hand)."""
    session = ScoringSession(scorer, source.kind, source.name, settings, repertoire=repertoire, piece_id=piece_id)
    watch = TakeWatch(limits)
    for block in source.blocks():
        result = session.add(block)
        if on_block:
            on_block(block, result)
        if not watch.reason and watch.should_stop(block, block_level(block)[1]):
            source.stop()  # a file source yields nothing more; a live one ends after this block
            session.stop_warning = f"{watch.reason}; the rest of the input was not scored"
    return session.finish()


def played_rows(table: NoteTable) -> list[list[int]]:
    """The take's notes for the history's piano roll: [onset ms, length ms, pitch, velocity], the first
    MAX_PLAYED_NOTES."""
    n = min(len(table.onset), MAX_PLAYED_NOTES)
    onset = np.round(table.onset[:n] * 1000).astype(int)
    length = np.maximum(np.round((table.offset[:n] - table.onset[:n]) * 1000).astype(int), 1)
    return np.column_stack([onset, length, table.pitch[:n].astype(int), table.velocity[:n].astype(int)]).tolist()
