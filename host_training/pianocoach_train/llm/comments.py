"""The raters' free-text comments in PercePiano's ``labels/ratings.csv`` (``message`` column, Korean),
each with that rater's own 19 ratings, and the rule that keeps only comments about the playing.

The filter rule (applied in order; the first that matches drops the comment):

1. ``empty``: no text, or fewer than 5 letters ("없음" "none", "..").
2. ``survey``: it talks about the survey, the rating task or the recording rather than the playing:
   it contains one of :data:`SURVEY_WORDS` (question item, survey, evaluate/judge, ambiguous or hard
   to tell, don't know, the audio file or recording, the score being shown, the answer scale) and
   names no aspect of playing (:func:`pianocoach.feedback.aspects.tag_aspects`): "페달이 ... 애매하게
   나는 소리" ("the pedal sounds ambiguous") stays, "애매하다" ("hard to say") goes.

Everything else is kept, including short generic verdicts ("설득력이 있다" "convincing"): they are
about the playing, and the relevance benchmark skips comments that name no aspect anyway.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pianocoach.errors import LabelFileError
from pianocoach.feedback.aspects import tag_aspects
from pianocoach_train.percepiano.ids import normalise_id

RATINGS_FILE = Path("labels") / "ratings.csv"
SCALE_COLUMNS = slice(3, 22)  # the 19 answers in label order (the 20th question is dropped, as in mean19)
LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)

SURVEY_WORDS = (
    "문항",
    "설문",
    "질문",
    "평가하",
    "평가를",
    "평가가",
    "판단",
    "애매",
    "모르겠",
    "알 수 없",
    "잘 모르",
    "음원",
    "음질",
    "녹음",
    "파일",
    "악보가 같이",
    "악보가 있",
    "악보를 보",
    "척도",
    "선택지",
    "응답",
    "답변",
)


@dataclass(frozen=True)
class RaterComment:
    rater: str
    performance: str  # PercePiano id
    ratings: np.ndarray  # 19 answers 1..7, NaN where the rater answered "don't know"
    message: str


def read_comments(root: str | Path) -> list[RaterComment]:
    """Every row of ratings.csv with a non-blank message, in file order."""
    path = Path(root) / RATINGS_FILE
    if not path.is_file():
        raise LabelFileError(path, "no such file (PercePiano's raw ratings)")
    out = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or header[-1] != "message" or len(header) < 23:
            raise LabelFileError(
                path, "not PercePiano's ratings.csv (expected user, dataID, filename, 20 answers, message)"
            )
        for number, row in enumerate(reader, 2):
            if len(row) != len(header):
                raise LabelFileError(path, f"line {number}: {len(row)} columns, expected {len(header)}")
            message = row[-1].strip()
            if not message:
                continue
            try:
                ratings = np.array([float(x) if x.strip() else np.nan for x in row[SCALE_COLUMNS]])
            except ValueError as exc:
                raise LabelFileError(path, f"line {number}: a rating is not a number ({exc})") from None
            name = row[2].strip()
            out.append(
                RaterComment(
                    row[0].strip(), normalise_id(name[:-4] if name.lower().endswith(".wav") else name), ratings, message
                )
            )
    return out


def drop_reason(message: str) -> str | None:
    """Why a comment is not about the playing (``empty``, ``survey``), or None to keep it."""
    if len(LETTERS.findall(message)) < 5:
        return "empty"
    if any(word in message for word in SURVEY_WORDS) and not tag_aspects(message):
        return "survey"
    return None


def filter_comments(comments: list[RaterComment]) -> tuple[list[RaterComment], Counter]:
    """(kept, counts by reason: "kept", "empty", "survey")."""
    counts: Counter = Counter()
    kept = []
    for comment in comments:
        reason = drop_reason(comment.message)
        counts[reason or "kept"] += 1
        if reason is None:
            kept.append(comment)
    return kept, counts
