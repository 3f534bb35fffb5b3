"""Writing the feedback for one performance: a language model when one is configured, the templates
otherwise, and the templates whenever the model fails.

The model's text streams in pieces; each sentence is checked against the numbers
(:mod:`pianocoach.feedback.check`) the moment it is complete, and only then handed on (``on_sentence``:
the display shows it, the speaker starts on the first one). Generation stops at the word limit. When no
sentence has been accepted by the time limit, or the model is missing, fails or says nothing usable, the
template text is used instead. A model that is cut off by the time limit after some accepted sentences
keeps those (they may already have been spoken).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from pianocoach.feedback.backends import StreamingBackend
from pianocoach.feedback.check import SENTENCE_END, check_sentence, split_sentences
from pianocoach.feedback.prompt import FeedbackRequest, prompt_messages
from pianocoach.feedback.templates import feedback_text

log = logging.getLogger(__name__)

LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)  # letters of any script (CJK ideographs included)


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
        return {"text": self.text, "source": self.source, "reason": self.reason, "dropped": [list(d) for d in self.dropped],
                "seconds": round(self.seconds, 3), "first_sentence_s": None if self.first_sentence_s is None else
                round(self.first_sentence_s, 3), "pieces": self.pieces}


def template_feedback(request: FeedbackRequest) -> str:
    return feedback_text(request.values, request.mark, request.measures, request.lang, request.provisional)


def word_count(text: str, language: str) -> float:
    """Words; Chinese counts two characters as a word (the limit in the prompt is in characters)."""
    if language == "zh":
        return len(LETTERS.findall(text)) / 2.0
    return float(len(text.split()))


class FeedbackWriter:
    def __init__(self, backend: StreamingBackend | None = None, max_tokens: int = 160, temperature: float = 0.2,
                 time_limit_s: float = 20.0) -> None:
        self.backend = backend
        self.max_tokens, self.temperature, self.time_limit_s = max_tokens, temperature, time_limit_s

    @property
    def name(self) -> str:
        return self.backend.name if self.backend is not None else "template"

    def write(self, request: FeedbackRequest, on_sentence: Callable[[str], None] | None = None,
              on_piece: Callable[[str], None] | None = None) -> Feedback:
        started = time.perf_counter()
        if self.backend is None:
            return self._template(request, started, "", on_sentence)
        run = _Generation(self.backend, request, self.max_tokens, self.temperature)
        kept: list[str] = []
        feedback = Feedback("", self.backend.name)
        deadline = started + self.time_limit_s
        reason = ""

        def accept(sentence: str) -> bool:
            """Check one sentence; False once the word limit is reached (generation can stop)."""
            if len(LETTERS.findall(sentence)) < 3:
                feedback.dropped.append((sentence, "not a sentence"))
                return True
            if _repetitive(sentence):
                feedback.dropped.append((sentence, "repeats itself"))
                return True
            why = check_sentence(sentence, request)
            if why:
                log.info("feedback sentence dropped (%s): %s", why, sentence)
                feedback.dropped.append((sentence, why))
                return True
            used = sum(word_count(s, request.lang) for s in kept)
            if kept and used + word_count(sentence, request.lang) > request.word_limit:
                return False
            if not kept and word_count(sentence, request.lang) > request.word_limit:
                sentence = _shorten(sentence, request.word_limit, request.lang)
            kept.append(sentence)
            if feedback.first_sentence_s is None:
                feedback.first_sentence_s = time.perf_counter() - started
            if on_sentence:
                on_sentence(sentence)
            return True

        buffer = ""
        try:
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    reason = f"time limit {self.time_limit_s:g} s"
                    break
                try:
                    kind, data = run.events.get(timeout=remaining)
                except queue.Empty:
                    continue
                if kind == "piece":
                    feedback.pieces += 1
                    buffer += data
                    if on_piece:
                        on_piece(data)
                    *complete, buffer = SENTENCE_END.split(buffer)
                    if not all(accept(s.strip()) for s in complete if s.strip()):
                        break
                else:  # the end of the stream: data is the exception that ended it, if any
                    if data is not None:
                        reason = f"model failed ({data})"
                    elif buffer.strip():
                        accept(buffer.strip())
                    break
        finally:
            run.stop.set()
        feedback.seconds = time.perf_counter() - started
        if kept:
            if reason:
                log.info("feedback cut short: %s", reason)
            feedback.text = ("" if request.lang == "zh" else " ").join(kept)
            return feedback
        reason = reason or ("every sentence contradicted the numbers" if feedback.dropped else "the model said nothing")
        log.warning("%s feedback not used: %s; using the template text", self.backend.name, reason)
        fallback = self._template(request, started, reason, on_sentence)
        fallback.dropped, fallback.pieces = feedback.dropped, feedback.pieces
        return fallback

    @staticmethod
    def _template(request: FeedbackRequest, started: float, reason: str,
                  on_sentence: Callable[[str], None] | None) -> Feedback:
        text = template_feedback(request)
        if on_sentence:
            for sentence in split_sentences(text):
                on_sentence(sentence)
        elapsed = time.perf_counter() - started
        return Feedback(text, "template", reason, seconds=elapsed, first_sentence_s=elapsed)


def _repetitive(sentence: str) -> bool:
    """A model stuck in a loop: one word is more than half of a sentence of six or more words."""
    words = sentence.lower().split()
    return len(words) >= 6 and max(words.count(w) for w in set(words)) > len(words) / 2


def _shorten(sentence: str, limit: int, language: str) -> str:
    """The first ``limit`` words (Chinese: ``2 * limit`` characters) and an ellipsis."""
    if language == "zh":
        return sentence[: 2 * limit].rstrip() + "……"
    return " ".join(sentence.split()[:limit]).rstrip(",;:") + "…"


class _Generation:
    """The backend's stream on its own thread, feeding ("piece", text) and finally ("end", error) events."""

    def __init__(self, backend: StreamingBackend, request: FeedbackRequest, max_tokens: int, temperature: float) -> None:
        self.events: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self._args = (prompt_messages(request), max_tokens, temperature, self.stop)
        self._backend = backend
        threading.Thread(target=self._run, name="feedback-generation", daemon=True).start()

    def _run(self) -> None:
        error = None
        try:
            for piece in self._backend.stream(*self._args):
                self.events.put(("piece", piece))
                if self.stop.is_set():
                    break
        except Exception as exc:  # any backend failure ends in the template text, never in a crash
            error = exc
        self.events.put(("end", error))
