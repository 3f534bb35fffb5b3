"""What scoring produces: a provisional result per block while playing, one result per performance."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class BlockResult:
    index: int
    start: float
    end: float
    scores: np.ndarray  # 19 values for the window ending at this block
    overall: float
    seconds: float  # processing time of the block


@dataclass
class PerformanceResult:
    input: str
    source: str  # "audio" or "midi"
    duration_s: float
    scale_names: list[str]  # the 19 PercePiano scales, label order
    scale_values: list[float]  # weighted mean over the windows, on the label scale (1/7..1)
    scale_values_mean: list[float]  # plain mean over the windows
    overall: float  # 0-100, from scale_values (see pianocoach.scales.overall_mark)
    overall_mean: float  # the same from scale_values_mean
    measures: dict[str, dict]  # name -> {value, unit, label_en, label_zh}
    feedback: str
    provisional: bool
    warnings: list[str]
    windows: int
    bundle_id: str
    timing: dict[str, float]  # seconds in transcription, features, inference; finish = end of input to result
    language: str = "en"
    audio_path: str | None = None  # audio input: "audio_model", "fusion" or "transcription" (the bundle's choice)
    audio_blocks: int = 0  # 2 s audio feature blocks the audio model scored
    feedback_source: str = "template"  # who wrote ``feedback``: "template", "local" or "remote" (a language model)

    def to_dict(self) -> dict:
        return asdict(self)
