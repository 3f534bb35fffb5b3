"""``pianocoach run``: the appliance's state machine.

    idle --short--> listening --short / silence / input end--> scoring --> result pages --short...--> idle
                    listening --long--> idle (cancelled)          result --long--> idle (and holds the result's
                                                                  piece for the next takes, or lets it go)

One thread owns the state: button presses (gpiozero's threads) and capture progress (the capture
thread) arrive as events on a queue and are handled in order, so a press storm cannot start two
performances or race a result. Capture and scoring run in one long-lived capture thread (a new thread
per performance would get a new glibc malloc arena each time: the soak measured +74 MB over 100
sessions that way); speech in its own thread.
Every state change is logged. Nothing a display, the speech or the input does wrong stops the daemon:
it logs, shows a message and goes back to idle. A performance is stored only when it was scored whole.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pianocoach.appliance import pairing_file, recordings, screens
from pianocoach.appliance.config import Config
from pianocoach.appliance.display import SafeDisplay
from pianocoach.appliance.history import History, age_seconds
from pianocoach.appliance.speech import Speaker
from pianocoach.errors import PianoCoachError
from pianocoach.feedback.writer import FeedbackWriter
from pianocoach.inputs.base import BlockSource
from pianocoach.repertoire.identify import RepertoireIndex
from pianocoach.repertoire.store import INDEX_NAME, Repertoire, load_index
from pianocoach.scoring import BundleScorer, ScoringSession, SessionSettings
from pianocoach.scoring.limits import TakeLimits, TakeWatch, block_level
from pianocoach.scoring.result import PerformanceResult, write_feedback

log = logging.getLogger(__name__)

IDLE, LISTENING, SCORING, RESULT, MESSAGE = "idle", "listening", "scoring", "result", "message"
PAIRING = "pairing"  # the companion page's code on the display, waiting for a press (allow) or a hold (refuse)
PRESS_GUARD_S = 0.3  # presses closer together than this are one press (a bouncing or hammered button)
MESSAGE_S = 8.0  # a message stays this long unless a press clears it


@dataclass
class Event:
    kind: str  # short, long, block, ended, piece, sentence, scored, failed, reload, tick
    data: Any = None  # what the kind carries: (block, level), a sentence, a result, the failure
    capture: int = 0  # which capture it belongs to (events of an abandoned capture are dropped)


@dataclass
class Capture:
    """One performance being listened to (in the capture thread)."""

    number: int
    source: BlockSource
    session: ScoringSession
    started: float = field(default_factory=time.time)
    cancelled: bool = False
    recorder: recordings.TakeRecorder | None = None  # history.keep_recordings: the take as it is played
    recording: Path | None = None  # the recorder's partial file once the take ended
    done: threading.Event = field(default_factory=threading.Event)


class Daemon:
    def __init__(
        self,
        config: Config,
        display: SafeDisplay,
        speaker: Speaker,
        history: History,
        open_source: Callable[[], BlockSource],
        scorer: BundleScorer | None = None,
        load_scorer: Callable[[], BundleScorer] | None = None,
        feedback: FeedbackWriter | None = None,
        load_feedback: Callable[[BundleScorer], FeedbackWriter] | None = None,
    ) -> None:
        self.config = config
        self.language = config.device.language
        self.display, self.speaker, self.history = display, speaker, history
        self.open_source = open_source
        # verified against the device's trusted keys; only the models of the configured input stay open
        self.load_scorer = load_scorer or (lambda: BundleScorer(config.bundle_path(), inputs=(config.input.kind(),)))
        self.scorer = scorer
        self.feedback = feedback or (load_feedback(scorer) if load_feedback and scorer else FeedbackWriter())
        self.load_feedback = load_feedback
        self.reload_pending = False  # a new bundle was installed: swap it in at the next idle moment
        self.events: queue.Queue[Event] = queue.Queue()
        self.state = ""
        self.capture: Capture | None = None
        self.captures = 0
        self.pages: list[screens.Screen] = []
        self.page = 0
        self.last_result: PerformanceResult | None = None
        self.state_log: deque[str] = deque(maxlen=500)  # the states entered, in order (tests and the demo read it)
        self.on_state: Callable[[str], None] | None = None  # e.g. the status LED
        self._entered = time.monotonic()
        self._last_press = 0.0
        self._stop = threading.Event()
        self._captures: queue.Queue[Capture | None] = queue.Queue()
        self._capture_thread = threading.Thread(target=self._capture_worker, name="capture", daemon=True)
        self._capture_thread.start()
        self.message = ""  # the last message shown (an error, why a performance was not scored)
        self.note = ""  # a line the idle screen adds (why the last attempt did not give a result)
        self.sentences: list[str] = []  # feedback sentences accepted (shown and spoken) for the current result
        self.pieces = 0  # text pieces the feedback model has streamed for it
        self.piece_id = config.device.piece or None  # the piece set by hand; None: recognised take by take
        self._repertoire: tuple[float, RepertoireIndex] | None = None  # (the index file's mtime, the index)
        self.pairing_code: str | None = None  # the companion page's code last shown (not shown again)

    def repertoire(self) -> RepertoireIndex:
        """The pieces takes are followed against: the built-in ones and those added (read again when
        `pianocoach repertoire add/remove` changed the folder's index)."""
        store = Repertoire(self.config.repertoire_dir())
        index_file = store.root / INDEX_NAME
        changed = index_file.stat().st_mtime if index_file.is_file() else 0.0
        if self._repertoire is None or self._repertoire[0] != changed:
            self._repertoire = (changed, load_index(store))
            log.info("repertoire: %d pieces", len(self._repertoire[1].scores))
        return self._repertoire[1]

    # -- inputs from other threads ---------------------------------------------------------------
    def press(self) -> None:
        self.events.put(Event("short"))

    def long_press(self) -> None:
        self.events.put(Event("long"))

    def request_reload(self) -> None:
        """A new bundle is current (SIGHUP from ``pianocoach install-bundle`` or ``rollback``)."""
        self.events.put(Event("reload"))

    def shutdown(self) -> None:
        self._stop.set()
        self.events.put(Event("tick"))

    # -- the loop -------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the bundle (a failure is shown, not fatal) and show the idle screen."""
        self._ensure_scorer()
        self._enter(IDLE)

    def run(self, until: Callable[[], bool] | None = None, tick_s: float = 0.5) -> None:
        """Handle events until ``shutdown()`` (or ``until()`` is true)."""
        if not self.state:
            self.start()
        while not self._stop.is_set() and not (until and until()):
            try:
                event = self.events.get(timeout=tick_s)
            except queue.Empty:
                event = Event("tick")
            try:
                self.handle(event)
            except Exception as exc:  # a bug in one handler must not end the appliance: show it, back to idle
                log.exception("while handling %s in %s", event.kind, self.state)
                self._abandon_capture()
                self._message(f"internal error: {type(exc).__name__}: {exc}")
        self._abandon_capture()
        self._captures.put(None)  # ends the capture thread

    def handle(self, event: Event) -> None:
        if event.kind in ("short", "long"):
            now = time.monotonic()
            if now - self._last_press < PRESS_GUARD_S:
                log.debug("press ignored (%.2f s after the last one)", now - self._last_press)
                return
            self._last_press = now
        elif event.capture and (self.capture is None or event.capture != self.capture.number):
            return  # from a capture that was cancelled or abandoned
        getattr(self, f"_on_{event.kind}")(event)

    def _on_tick(self, event: Event) -> None:
        waited = time.monotonic() - self._entered
        if self.state in (IDLE, PAIRING):
            self._watch_pairing()
        elif self.state == MESSAGE and waited > MESSAGE_S:
            self._enter(IDLE)
        elif self.state == RESULT:
            d = self.config.display
            if waited > d.result_timeout_s:
                self._enter(IDLE)
            elif d.result_page_s and waited > d.result_page_s * (self.page + 1):
                self._next_page()

    def _watch_pairing(self) -> None:
        """Show a code the companion page asked for (idle only: never during a performance); back to idle when it
        is used, expires or is replaced by the page."""
        pending = pairing_file.read_pending(self.config.data_dir)
        waiting = pending is not None and not pending["confirmed"]
        if waiting and pending is not None and pending["code"] != self.pairing_code:
            self.pairing_code = pending["code"]
            self._enter(PAIRING, screens.pairing_screen(self.language, pending["code"], self.display.layout.capacity))
        elif not waiting and self.state == PAIRING:
            self.pairing_code = None
            self._enter(IDLE)

    def _on_short(self, event: Event) -> None:
        if self.state == PAIRING:
            code = self.pairing_code or ""
            if pairing_file.confirm(self.config.data_dir, code):
                self.pairing_code = code  # shown and allowed: not shown again
                w = screens.words(self.language)
                self._enter(
                    MESSAGE,
                    screens.message_screen(
                        self.language,
                        w["pair_allowed"].format(code=code),
                        self.display.layout.capacity,
                        w["pair_title"],
                    ),
                )
            else:
                self._enter(IDLE)
        elif self.state == IDLE:
            self._start_capture()
        elif self.state == LISTENING:
            log.info("stop pressed")
            assert self.capture is not None  # listening: a capture is running
            self.capture.source.stop()
        elif self.state == RESULT:
            self._next_page()
        elif self.state == MESSAGE:
            self._enter(IDLE)
        else:
            log.info("press ignored while %s", self.state)

    def _on_long(self, event: Event) -> None:
        if self.state == PAIRING:
            pairing_file.refuse(self.config.data_dir)
            self._enter(IDLE)
        elif self.state == LISTENING:
            log.info("cancelled by a long press")
            assert self.capture is not None  # listening: a capture is running
            self.capture.cancelled = True
            self.capture.source.stop()
            self.capture = None  # its remaining events are dropped
            self.note = screens.words(self.language)["cancelled"]
            self._enter(IDLE)
        elif self.state == RESULT:
            self._hold_piece()
            self._enter(IDLE)
        elif self.state == MESSAGE:
            self._enter(IDLE)

    def _hold_piece(self) -> None:
        """A long press on a result of a piece: practise that piece (the next takes are followed along its score
        without recognising it); on a result while a piece is held: recognise the piece of each take again."""
        w = screens.words(self.language)
        piece = self.last_result.piece if self.last_result is not None else None
        if self.piece_id is not None:
            log.info("piece %s let go: recognising the piece of each take again", self.piece_id)
            self.piece_id = None
            self.note = w["recognising"]
        elif piece is not None and piece.get("id") is not None:
            self.piece_id = str(piece["id"])
            log.info("practising %s: takes follow its score", self.piece_id)
            self.note = w["practising"].format(title=piece["title"])

    def _on_block(self, event: Event) -> None:
        if self.state != LISTENING:
            return
        block, level = event.data
        assert self.capture is not None  # listening: a capture is running
        session = self.capture.session
        latest = session.blocks[-1] if session.blocks else None  # the newest provisional window result
        mark = latest.overall if latest is not None else None
        hint = screens.live_hint(self.language, latest.scores, latest.unknown_scales) if latest is not None else ""
        piece = screens.piece_line(self.language, session.live_piece)
        self._show(screens.listening_screen(self.language, block.end, level, session.notes_seen, mark, piece or hint))

    def _on_ended(self, event: Event) -> None:
        self.sentences, self.pieces = [], 0
        self._enter(SCORING)

    def _on_reload(self, event: Event) -> None:
        if self.state in (LISTENING, SCORING):
            log.info("new bundle: loading it after this performance")
            self.reload_pending = True
        else:
            self._reload()
            if self.state == IDLE:
                self._enter(IDLE)  # the idle screen names the bundle

    def _reload(self) -> None:
        """Load the now-current bundle; if it cannot be used, keep scoring with the one already loaded."""
        self.reload_pending = False
        try:
            scorer = self.load_scorer()
        except PianoCoachError as exc:
            log.error("new bundle not loaded, keeping %s: %s", self.scorer.bundle_id if self.scorer else "none", exc)
            self.note = str(exc)
        else:
            log.info(
                "model bundle %s loaded (was %s)", scorer.bundle_id, self.scorer.bundle_id if self.scorer else "none"
            )
            self.scorer = scorer
            self.note = ""
            if self.load_feedback is not None:
                self.feedback = self.load_feedback(scorer)

    def _on_piece(self, event: Event) -> None:
        self.pieces += 1
        if self.pieces % 8 == 1 and not self.sentences:  # the model is writing: show that it is alive
            self._show(screens.feedback_screen(self.language, [], self.pieces, self.display.layout.capacity))

    def _on_sentence(self, event: Event) -> None:
        """A checked feedback sentence: on the screen and spoken at once (speech starts at the first)."""
        sentence = str(event.data)
        self.speaker.say(sentence, self.language, interrupt=not self.sentences)
        self.sentences.append(sentence)
        self._show(screens.feedback_screen(self.language, self.sentences, self.pieces, self.display.layout.capacity))

    def _on_scored(self, event: Event) -> None:
        result: PerformanceResult = event.data
        previous = self.history.latest()
        assert self.capture is not None  # handle() drops the events of a capture that is gone
        try:
            take_id = self.history.add(result, self.capture.started)
            if self.capture.recording is not None:
                budget = int(self.config.history.recordings_mb * 1e6)
                recordings.keep(self.capture.recording, self.config.recordings_dir(), take_id, budget)
        except PianoCoachError as exc:
            log.error("%s", exc)
            self._drop_recording(self.capture)
        except OSError as exc:  # a full or failing disk: the take is stored, its recording is not
            log.error("take %s: recording not kept (%s)", take_id, exc)
            self._drop_recording(self.capture)
        self.capture = None
        self.last_result = result
        self.pages = screens.result_pages(
            result, previous["overall"] if previous else None, self.display.layout.capacity
        )
        self.page = 0
        self.note = ""
        log.info(
            "result: %.0f/100 over %.1f s (%s); feedback from %s",
            result.overall,
            result.duration_s,
            result.input,
            result.feedback_source,
        )
        self._enter(RESULT)

    def _on_failed(self, event: Event) -> None:
        message = str(event.data)
        log.error("performance not scored: %s", message)
        self.capture = None
        self.note = ""
        self._message(message)

    # -- actions ----------------------------------------------------------------------------------
    def _ensure_scorer(self) -> bool:
        if self.scorer is not None:
            return True
        try:
            self.scorer = self.load_scorer()
            log.info("model bundle %s loaded", self.scorer.bundle_id)
            if self.load_feedback is not None:
                self.feedback = self.load_feedback(self.scorer)
            return True
        except PianoCoachError as exc:
            log.error("no usable model bundle: %s", exc)
            self.note = str(exc)
            return False

    def _start_capture(self) -> None:
        if not self._ensure_scorer():
            self._message(self.note)
            return
        try:
            source = self.open_source()
        except PianoCoachError as exc:
            self._message(str(exc))
            return
        settings = SessionSettings(
            block_seconds=self.config.input.block_seconds,
            language=self.language,
            midi_sends_pedal=self.config.input.midi_sends_pedal,
        )
        assert self.scorer is not None  # _ensure_scorer loaded it
        self.captures += 1
        repertoire = self.repertoire()
        piece_id = self.piece_id
        if piece_id is not None and piece_id not in repertoire.scores:
            log.warning("device.piece %r is not in the repertoire: recognising the piece instead", piece_id)
            piece_id = None
        session = ScoringSession(
            self.scorer, source.kind, source.name, settings, repertoire=repertoire, piece_id=piece_id
        )
        self.capture = Capture(self.captures, source, session)
        if self.config.history.keep_recordings:
            self.capture.recorder = recordings.TakeRecorder(self.config.recordings_dir(), self.captures)
        self.note = ""
        self._enter(LISTENING)
        self._captures.put(self.capture)

    def _capture_worker(self) -> None:
        while (capture := self._captures.get()) is not None:
            try:
                self._listen(capture)
            finally:
                capture.done.set()

    @property
    def listening_now(self) -> int:
        """Performances handed to the capture thread and not finished (never more than one)."""
        return self._captures.qsize() + (1 if self.capture is not None and not self.capture.done.is_set() else 0)

    def _listen(self, capture: Capture) -> None:
        """The capture thread: blocks into the session, silence and length limits, then the final score."""
        cfg = self.config.input
        post = lambda kind, data=None: self.events.put(Event(kind, data, capture.number))  # noqa: E731
        watch = TakeWatch(TakeLimits(cfg.max_minutes * 60, cfg.silence_stop_s, cfg.silence_db))
        try:
            for block in capture.source.blocks():
                capture.session.add(block)
                if capture.recorder is not None:
                    capture.recorder.add(block)
                level, db = block_level(block)
                post("block", (block, level))
                if watch.should_stop(block, db):
                    capture.source.stop()
                    if watch.at_limit:
                        capture.session.stop_warning = watch.reason
            if capture.cancelled:
                if capture.recorder is not None:
                    capture.recorder.discard()
                return
            if capture.recorder is not None:
                capture.recording = capture.recorder.finish()
            post("ended")
            result = capture.session.finish()
            write_feedback(
                result,
                self.feedback,
                self.config.feedback.word_limit,
                on_sentence=lambda sentence: post("sentence", sentence),
                on_piece=lambda piece: post("piece", piece),
            )
            post("scored", result)
        except PianoCoachError as exc:
            self._drop_recording(capture)
            post("failed", exc)
        except Exception as exc:  # an input that dies mid-performance (PortAudio, USB) must not end the daemon
            log.exception("capture failed")
            self._drop_recording(capture)
            post("failed", f"{capture.source.name}: input failed ({type(exc).__name__}: {exc})")

    @staticmethod
    def _drop_recording(capture: Capture) -> None:
        if capture.recorder is not None:
            capture.recorder.discard()
        capture.recording = None

    def _next_page(self) -> None:
        self.page += 1
        if self.page >= len(self.pages):
            self._enter(IDLE)
        else:
            self._entered = time.monotonic() if not self.config.display.result_page_s else self._entered
            self._show(self.pages[self.page])

    def _message(self, text: str) -> None:
        self.message = text
        self._enter(MESSAGE, screens.message_screen(self.language, text, self.display.layout.capacity))

    def _abandon_capture(self) -> None:
        if self.capture is not None:
            self.capture.cancelled = True
            self.capture.source.stop()
            self.capture.done.wait(timeout=10)
            self.capture = None

    def _enter(self, state: str, screen: screens.Screen | None = None) -> None:
        if state == IDLE and self.reload_pending:  # a bundle installed during the performance: now it is over
            self._reload()
        log.info("state: %s -> %s", self.state or "start", state)
        # the screen goes up first: whoever sees the new state (the demo, tests) also finds its frame
        self._show(screen or self._screen_for(state))
        if self.on_state:
            self.on_state(state)
        self._entered = time.monotonic()
        self.state_log.append(state)
        self.state = state

    def _screen_for(self, state: str) -> screens.Screen:
        if state == LISTENING:
            return screens.listening_screen(self.language, 0.0, 0.0, 0)
        if state == SCORING:
            return screens.scoring_screen(self.language)
        if state == RESULT:
            return self.pages[0]
        latest = self.history.latest()
        bundle = self.scorer.bundle_id if self.scorer is not None else ""
        if latest is None:
            return screens.idle_screen(self.language, note=self.note, bundle_id=bundle)
        return screens.idle_screen(self.language, latest["overall"], age_seconds(latest), self.note, bundle)

    def _show(self, screen: screens.Screen) -> None:
        self.display.show(screen)
