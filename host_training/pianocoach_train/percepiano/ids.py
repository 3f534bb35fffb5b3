"""PercePiano performance ids: ``<work>[_<passage>]_<N>bars_<performer>_<segment>``.

The performer is the second-to-last token and the segment the last (the source repository's README
says the opposite; its code and the data agree with this order). ``Score``/``Score2`` performers are
deadpan renders of the score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pianocoach.errors import PianoCoachError

WORKS = ("Schubert_D960_mv2", "Schubert_D960_mv3", "Schubert_D935_no.3", "Beethoven_WoO80")
SCORE_PERFORMERS = ("Score", "Score2")
_BARS = re.compile(r"^(\d+)bars$")


class IdError(PianoCoachError, ValueError):
    """A string is not a PercePiano performance id."""


@dataclass(frozen=True)
class PerformanceId:
    id: str  # normalised: no surrounding spaces, no .mid suffix
    work: str  # one of WORKS
    passage: str  # variation within the work ("thema", "var27"), "" when the work has none
    bars: int
    performer: str
    segment: str

    @property
    def is_score_render(self) -> bool:
        return self.performer in SCORE_PERFORMERS

    @property
    def passage_key(self) -> tuple[str, str, int, str]:
        """The music played, whoever plays it: the unit the piece split never divides."""
        return (self.work, self.passage, self.bars, self.segment)


def normalise_id(raw: str) -> str:
    """Strip the spaces and ``.mid`` suffix some file names carry (one file name starts with a space)."""
    name = raw.strip()
    if name.lower().endswith(".mid"):
        name = name[:-4].strip()
    return name


def parse_id(raw: str) -> PerformanceId:
    ident = normalise_id(raw)
    tokens = ident.split("_")
    if len(tokens) < 4 or not _BARS.match(tokens[-3]):
        raise IdError(f"{raw!r} is not a PercePiano id (<work>_<N>bars_<performer>_<segment>)")
    prefix = "_".join(tokens[:-3])
    work = next((w for w in WORKS if prefix == w or prefix.startswith(w + "_")), None)
    if work is None:
        raise IdError(f"{raw!r}: unknown work {prefix!r} (known: {', '.join(WORKS)})")
    return PerformanceId(
        id=ident,
        work=work,
        passage=prefix[len(work) + 1 :],
        bars=int(_BARS.match(tokens[-3]).group(1)),
        performer=tokens[-2],
        segment=tokens[-1],
    )
