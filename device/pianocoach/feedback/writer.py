"""Writing the feedback for one performance: a language model when one is configured, the templates
otherwise, and the templates whenever the model fails.

The model's text streams in pieces; each sentence is checked against the numbers
(:mod:`pianocoach.feedback.check`) the moment it is complete, and only then handed on (``on_sentence``:
the display shows it, the speaker starts on the first one). Generation stops at the word limit. When no
sentence has been accepted by the time limit, or the model is missing, fails or says nothing usable, the
template text is used instead. A model that is cut off by the time limit after some accepted sentences
keeps those (they may already have been spoken). An answer longer than ``MAX_PIECES`` pieces or
``MAX_CHARS`` characters is cut off the same way; each piece costs work in its own length only (the text
so far is never re-joined or re-scanned), and pieces cross from the generation thread in a bounded queue.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

from pianocoach.feedback.backends import StreamingBackend
from pianocoach.feedback.check import SENTENCE_END, check_sentence, split_sentences
from pianocoach.feedback.prompt import FeedbackRequest, prompt_messages
from pianocoach.feedback.templates import feedback_text

log = logging.getLogger(__name__)

LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)  # letters of any script (CJK ideographs included)
# What one answer may stream before it is cut off (a model that ignores max_tokens, or a server sending
# endless tiny pieces): a piece is about one token, and max_tokens is a few hundred at most.
MAX_PIECES = 2_000
MAX_CHARS = 20_000
# Pieces waiting between the generation thread and the writer; the generator waits when it is full.
EVENT_QUEUE_SIZE = 256
PUT_WAIT_S = 0.1  # how often a waiting generator looks at the stop event


@dataclass
class Feedback:
    text: str
    source: str  # "template", "local" or "remote"
    reason: str = ""  # why the template text was used ("" when the model's text was)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # model sentences that contradicted the numbers
    seconds: float = 0.0
    first_sentence_s: float | None = None  # from the request to the first accepted sentence
    pieces: int = 0  # streamed text pieces (about one token each)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "source": self.source,
            "reason": self.reason,
            "dropped": [list(d) for d in self.dropped],
            "seconds": round(self.seconds, 3),
            "first_sentence_s": None if self.first_sentence_s is None else round(self.first_sentence_s, 3),
            "pieces": self.pieces,
        }


def template_feedback(request: FeedbackRequest) -> str:
    return feedback_text(
        request.values,
        request.mark,
        request.measures,
        request.lang,
        request.provisional,
        request.fundamentals,
        request.bars,
    )


def word_count(text: str, language: str) -> float:
    """Words; Chinese counts two characters as a word (the limit in the prompt is in characters)."""
    if language == "zh":
        return len(LETTERS.findall(text)) / 2.0
    return float(len(text.split()))


class FeedbackWriter:
    """``max_pieces`` / ``max_chars``: what one answer may stream before it is cut off (then treated like
    the time limit: sentences already accepted are kept, else the template text is used)."""

    def __init__(
        self,
        backend: StreamingBackend | None = None,
        max_tokens: int = 160,
        temperature: float = 0.2,
        time_limit_s: float = 20.0,
        max_pieces: int = MAX_PIECES,
        max_chars: int = MAX_CHARS,
    ) -> None:
        self.backend = backend
        self.max_tokens, self.temperature, self.time_limit_s = max_tokens, temperature, time_limit_s
        self.max_pieces, self.max_chars = max_pieces, max_chars

    @property
    def name(self) -> str:
        return self.backend.name if self.backend is not None else "template"

    def write(
        self,
        request: FeedbackRequest,
        on_sentence: Callable[[str], None] | None = None,
        on_piece: Callable[[str], None] | None = None,
    ) -> Feedback:
        started = time.perf_counter()
        if self.backend is None:
            return self._template(request, started, "", on_sentence)
        feedback = Feedback("", self.backend.name)
        accepted = _Accepted(request, feedback, started, on_sentence)
        reason = self._stream(request, feedback, accepted, started, on_piece)
        feedback.seconds = time.perf_counter() - started
        if accepted.sentences:
            if reason:
                log.info("feedback cut short: %s", reason)
            feedback.text = ("" if request.lang == "zh" else " ").join(accepted.sentences)
            return feedback
        reason = reason or ("every sentence contradicted the numbers" if feedback.dropped else "the model said nothing")
        log.warning("%s feedback not used: %s; using the template text", self.backend.name, reason)
        fallback = self._template(request, started, reason, on_sentence)
        fallback.dropped, fallback.pieces = feedback.dropped, feedback.pieces
        return fallback

    def _stream(
        self,
        request: FeedbackRequest,
        feedback: Feedback,
        accepted: _Accepted,
        started: float,
        on_piece: Callable[[str], None] | None,
    ) -> str:
        """Feeds the model's pieces, sentence by sentence, to ``accepted`` until the stream ends, the word
        limit is reached, or a limit cuts it off; returns why it was cut off ("" otherwise)."""
        assert self.backend is not None  # write() streams only when there is a backend
        run = _Generation(self.backend, request, self.max_tokens, self.temperature)
        sentences = _Sentences()
        deadline = started + self.time_limit_s
        chars = 0
        try:
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return f"time limit {self.time_limit_s:g} s"
                try:
                    kind, data = run.events.get(timeout=remaining)
                except queue.Empty:
                    continue
                if kind == "end":  # data: the exception that ended the stream, if any
                    if data is not None:
                        return f"model failed ({data})"
                    accepted.offer(sentences.rest())
                    return ""
                if feedback.pieces >= self.max_pieces:
                    return f"more than {self.max_pieces} pieces"
                chars += len(data)
                if chars > self.max_chars:
                    return f"more than {self.max_chars} characters"
                feedback.pieces += 1
                if on_piece:
                    on_piece(data)
                if not all(accepted.offer(sentence) for sentence in sentences.feed(data)):
                    return ""  # the word limit
        finally:
            run.stop.set()

    @staticmethod
    def _template(
        request: FeedbackRequest, started: float, reason: str, on_sentence: Callable[[str], None] | None
    ) -> Feedback:
        text = template_feedback(request)
        if on_sentence:
            for sentence in split_sentences(text):
                on_sentence(sentence)
        elapsed = time.perf_counter() - started
        return Feedback(text, "template", reason, seconds=elapsed, first_sentence_s=elapsed)


def _repetitive(sentence: str) -> bool:
    """A model stuck in a loop: one word is more than half of a sentence of six or more words."""
    words = sentence.lower().split()
    return len(words) >= 6 and Counter(words).most_common(1)[0][1] > len(words) / 2


def _shorten(sentence: str, limit: int, language: str) -> str:
    """The first ``limit`` words (Chinese: ``2 * limit`` characters) and an ellipsis."""
    if language == "zh":
        return sentence[: 2 * limit].rstrip() + "……"
    return " ".join(sentence.split()[:limit]).rstrip(",;:") + "…"


class _Accepted:
    """The model's sentences that passed the checks, within the word limit (counted as they come)."""

    def __init__(
        self, request: FeedbackRequest, feedback: Feedback, started: float, on_sentence: Callable[[str], None] | None
    ) -> None:
        self.request, self.feedback, self.started, self.on_sentence = request, feedback, started, on_sentence
        self.sentences: list[str] = []
        self.words = 0.0

    def offer(self, sentence: str) -> bool:
        """Check one sentence; False once the word limit is reached (generation can stop)."""
        sentence = sentence.strip()
        if not sentence:
            return True
        why = self._why_dropped(sentence)
        if why:
            self.feedback.dropped.append((sentence, why))
            return True
        request, words = self.request, word_count(sentence, self.request.lang)
        if self.sentences and self.words + words > request.word_limit:
            return False
        if not self.sentences and words > request.word_limit:
            sentence = _shorten(sentence, request.word_limit, request.lang)
            words = word_count(sentence, request.lang)
        self.sentences.append(sentence)
        self.words += words
        if self.feedback.first_sentence_s is None:
            self.feedback.first_sentence_s = time.perf_counter() - self.started
        if self.on_sentence:
            self.on_sentence(sentence)
        return True

    def _why_dropped(self, sentence: str) -> str | None:
        if len(LETTERS.findall(sentence)) < 3:
            return "not a sentence"
        if _repetitive(sentence):
            return "repeats itself"
        why = check_sentence(sentence, self.request)
        if why:
            log.info("feedback sentence dropped (%s): %s", why, sentence)
        return why


class _Sentences:
    """Streamed text cut into sentences at SENTENCE_END. Each piece is scanned once, together with the one
    character before it (the pattern looks one character back, e.g. "." then a space in the next piece),
    so a piece costs time in its own length, never in the length of the text so far."""

    def __init__(self) -> None:
        self._parts: list[str] = []  # the unfinished sentence
        self._last = ""  # the last character seen

    def feed(self, piece: str) -> list[str]:
        """The sentences ``piece`` completes."""
        text = self._last + piece
        start, done = len(self._last), []
        # finditer from ``start``: the lookbehind still sees text[start - 1]
        for match in SENTENCE_END.finditer(text, start):
            self._parts.append(text[start : match.start()])
            done.append("".join(self._parts))
            self._parts, start = [], match.end()
        self._parts.append(text[start:])
        self._last = text[-1:]
        return done

    def rest(self) -> str:
        return "".join(self._parts)


class _Generation:
    """The backend's stream on its own thread, feeding ("piece", text) and finally ("end", error) events
    into a bounded queue; a generator faster than the writer waits, and gives up once ``stop`` is set."""

    def __init__(
        self, backend: StreamingBackend, request: FeedbackRequest, max_tokens: int, temperature: float
    ) -> None:
        self.events: queue.Queue = queue.Queue(maxsize=EVENT_QUEUE_SIZE)
        self.stop = threading.Event()
        self._args = (prompt_messages(request), max_tokens, temperature, self.stop)
        self._backend = backend
        threading.Thread(target=self._run, name="feedback-generation", daemon=True).start()

    def _run(self) -> None:
        error = None
        pieces: Iterator[str] | None = None
        try:
            pieces = self._backend.stream(*self._args)
            for piece in pieces:
                if not self._put(("piece", piece)):
                    break
        except Exception as exc:  # any backend failure ends in the template text, never in a crash
            error = exc
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # a generator's cleanup (closing a response, ending llama.cpp's loop) runs now
        self._put(("end", error))

    def _put(self, event: tuple[str, object]) -> bool:
        """Hands one event to the writer; False once the writer has stopped listening."""
        while not self.stop.is_set():
            try:
                self.events.put(event, timeout=PUT_WAIT_S)
                return True
            except queue.Full:
                continue
        return False
