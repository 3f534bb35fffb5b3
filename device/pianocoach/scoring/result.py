"""What scoring produces: a provisional result per block while playing, one result per performance.

Scoring gives numbers only. The feedback text is a separate step the caller runs when the numbers are in
(:func:`write_feedback`: the templates, or a language model through a :class:`FeedbackWriter`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from pianocoach.feedback.prompt import FeedbackRequest
from pianocoach.feedback.writer import Feedback, FeedbackWriter
from pianocoach.scoring.input_limits import PEDAL_MEASURES, PEDAL_SCALES

MAX_PLAYED_NOTES = 5000  # a piano roll's worth: five minutes of dense playing; about 100 KB in the history

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlockResult:
    index: int
    start: float
    end: float
    scores: np.ndarray  # 19 values for the window ending at this block
    overall: float
    seconds: float  # processing time of the block
    unknown_scales: tuple[str, ...] = ()  # scales the input cannot show so far (left out of ``overall``)


@dataclass
class PerformanceResult:
    input: str
    source: str  # "audio" or "midi"
    duration_s: float
    scale_names: list[str]  # the 19 PercePiano scales, label order
    # on the label scale (1/7..1): the whole take's scores (``whole_take``), else the weighted mean over the windows;
    # with a bundle's audio model its blocks' weighted mean is combined in after
    scale_values: list[float]
    scale_values_mean: list[float]  # the same with the plain means (equal to scale_values for a whole take)
    overall: float  # 0-100, the mark: the fundamentals' factor over the expression mark (README "The mark")
    overall_mean: float  # the same from scale_values_mean
    # name -> {value, unit, label_en, label_zh, estimated}; value None (and "unknown": why) for what the input
    # cannot give (pianocoach.scoring.input_limits)
    measures: dict[str, dict]
    provisional: bool
    warnings: list[str]
    windows: int
    bundle_id: str
    timing: dict[str, float]  # seconds in transcription, features, inference; finish = end of input to result
    language: str = "en"
    audio_path: str | None = None  # audio input: "audio_model", "fusion" or "transcription" (the bundle's choice)
    audio_blocks: int = 0  # 2 s audio feature blocks the audio model scored
    # the piece recognised among the repertoire's scores (or set by hand): {"id", "title", "confidence", "bar",
    # "set_by_hand"} (id None: free play); None when no repertoire was given
    piece: dict | None = None
    expression_mark: float = 0.0  # 0-100 from scale_values alone (pianocoach.rating_scales.overall_mark)
    # wrong/missed/extra notes, stops, restarts, tempo, ... (pianocoach.repertoire.fundamentals.Fundamentals)
    fundamentals: dict | None = None
    bars: list[dict] | None = None  # per bar as played, in order (score mode; empty in free play)
    feedback: str = ""  # advice in words, filled in by write_feedback (empty until then)
    feedback_source: str = ""  # who wrote ``feedback``: "template", "local" or "remote" (a language model)
    # scales the input cannot show (the pedal scales without a pedal reading): not shown, said or marked, and
    # null in ``to_dict``; ``scale_values`` keeps the model's raw output for them
    unknown_scales: list[str] = field(default_factory=list)
    # the scales come from one vector of the whole take (a take as long as the scorer's training clips); False:
    # the mean of its 20 s windows (``scale_values`` weighted, ``scale_values_mean`` plain)
    whole_take: bool = False
    # a microphone take: how likely the bundle's sound check found it to be a piano (None: MIDI, or no sound check)
    piano_probability: float | None = None
    # the notes as played or heard, for the history's piano roll: [onset ms, length ms, pitch, velocity] rows, the
    # first MAX_PLAYED_NOTES (not in to_dict: `pianocoach score --json` stays as it was)
    played_notes: list[list[int]] | None = None
    # with a score: its notes as due in the take, [onset ms, length ms, pitch] rows (the roll draws them beside the
    # notes played; pianocoach.repertoire.score_roll), the first MAX_PLAYED_NOTES; not in to_dict either
    score_notes: list[list[int]] | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("played_notes")
        out.pop("score_notes")
        for key in ("scale_values", "scale_values_mean"):
            out[key] = [None if n in self.unknown_scales else v for n, v in zip(self.scale_names, out[key])]
        return out

    def shown_scales(self) -> dict[str, float | None]:
        """Each scale's value, None for the ones the input cannot show."""
        return {n: None if n in self.unknown_scales else v for n, v in zip(self.scale_names, self.scale_values)}

    def feedback_measures(self) -> dict[str, dict]:
        """The measures the feedback may quote: while the pedal scales are unknown, the pedal measures are unknown to
        it too (a microphone take's heard pedal is shown, estimated, but never said)."""
        if not set(PEDAL_SCALES) & set(self.unknown_scales):
            return self.measures
        return {k: {**v, "value": None} if k in PEDAL_MEASURES else v for k, v in self.measures.items()}

    def feedback_request(self, word_limit: int = FeedbackRequest.word_limit) -> FeedbackRequest:
        """What the feedback is written about: these numbers, in the result's language."""
        return FeedbackRequest(
            {n: v for n, v in self.shown_scales().items() if v is not None},
            self.overall,
            self.feedback_measures(),
            self.language,
            word_limit,
            self.provisional,
            fundamentals=self.fundamentals,
            bars=self.bars,
            piece=self.piece,
        )


def write_feedback(
    result: PerformanceResult,
    writer: FeedbackWriter | None = None,
    word_limit: int = FeedbackRequest.word_limit,
    on_sentence: Callable[[str], None] | None = None,
    on_piece: Callable[[str], None] | None = None,
) -> Feedback:
    """Write the result's feedback (``writer``: a language model's writer; None: the templates) into
    ``result.feedback`` and ``result.feedback_source``. A writer that fails leaves the template text: a scored
    performance is never lost to its feedback."""
    request = result.feedback_request(word_limit)
    try:
        written = (writer or FeedbackWriter()).write(request, on_sentence=on_sentence, on_piece=on_piece)
    except Exception:
        log.exception("feedback writing failed; using the template text")
        written = FeedbackWriter().write(request)
    result.feedback, result.feedback_source = written.text, written.source
    return written
