"""Scoring a performance block by block with the installed bundle's scorer."""

from pianocoach.scoring.bundle_scorer import BundleScorer
from pianocoach.scoring.result import BlockResult, PerformanceResult, write_feedback
from pianocoach.scoring.session import (
    NoPlayingError,
    ScoringSession,
    SessionSettings,
    TooShortError,
    score_source,
    warm_up,
)

__all__ = [
    "BlockResult",
    "BundleScorer",
    "NoPlayingError",
    "PerformanceResult",
    "ScoringSession",
    "SessionSettings",
    "TooShortError",
    "score_source",
    "warm_up",
    "write_feedback",
]
