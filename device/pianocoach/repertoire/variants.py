"""How skilled pianists commonly play a score otherwise than its edition writes it, learned from their takes.

An edition is one reading of a piece. Skilled pianists add a grace note it leaves out, leave out a doubling, take
an ornament another way, breathe at a phrase's end: in PercePiano's takes these made 2.8 % of the notes "errors"
at the median (8.7 % at the 90th percentile), the same notes in take after take. Counted as a learner's mistakes,
they cost the mark of skilled takes at random and blurred its agreement with the listeners (README "The mark").

A piece's variants are the errors (kind, chord of the played score, pitch) that at least ``COMMON_SHARE`` of the
skilled takes make, and the chords before which as many of them pause. The fundamentals leave those out: they
are how the piece is played, not mistakes. They are learned on the host (``pianocoach_train.score_variants``) and
kept beside the piece's score as ``variants.json``, bound to the score file's sha256; a file that does not fit
its score, or is damaged or too large, is ignored with a warning (the piece is scored without variants).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

VARIANTS_NAME = "variants.json"
COMMON_SHARE = 0.3  # an error this share of the skilled takes make is how the piece is played
MIN_TAKES = 5  # fewer skilled takes than this say nothing about a piece
MAX_ENTRIES = 20_000  # a variants file with more entries than this is refused (read at every start)
MAX_BYTES = 1_000_000
KINDS = ("wrong", "missed", "extra")


@dataclass(frozen=True)
class ScoreVariants:
    score_sha256: str  # the score file they were learned on
    takes: int  # the skilled takes they were learned from
    errors: frozenset[tuple[str, int, int]]  # (kind, chord of the played score, pitch: played, or written if missed)
    pauses: frozenset[int]  # chords of the played score before which skilled pianists pause

    def is_common(self, kind: str, chord: int, pitch: int) -> bool:
        """Is this error (an aligned note error's kind, chord and pitch) one skilled pianists commonly make?"""
        return (kind, chord, pitch) in self.errors

    def to_dict(self) -> dict:
        return {
            "score_sha256": self.score_sha256,
            "takes": self.takes,
            "common_share": COMMON_SHARE,
            "errors": sorted([list(e) for e in self.errors]),
            "pauses": sorted(self.pauses),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ScoreVariants:
        errors, pauses = data["errors"], data["pauses"]
        if len(errors) + len(pauses) > MAX_ENTRIES:
            raise ValueError(f"{len(errors) + len(pauses)} entries, more than {MAX_ENTRIES}")
        parsed = set()
        for kind, chord, pitch in errors:
            if kind not in KINDS or not isinstance(chord, int) or not isinstance(pitch, int) or not 0 <= pitch < 128:
                raise ValueError(f"not an error of a score: {[kind, chord, pitch]!r}")
            parsed.add((str(kind), int(chord), int(pitch)))
        if not all(isinstance(c, int) for c in pauses):
            raise ValueError("a pause that is not a chord number")
        return cls(str(data["score_sha256"]), int(data["takes"]), frozenset(parsed), frozenset(int(c) for c in pauses))


def read_variants(path: Path, score_sha256: str) -> ScoreVariants | None:
    """The variants in ``path`` when they were learned on this score file, else None (logged when the file is there
    but unusable: damaged, too large, or learned on another score)."""
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        variants = ScoreVariants.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: variants ignored: %s", path, exc)
        return None
    if variants.score_sha256 != score_sha256:
        log.warning("%s: variants ignored: learned on another score file", path)
        return None
    return variants
