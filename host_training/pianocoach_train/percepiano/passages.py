"""PercePiano's MusicXML passages (``score_xml/``): which passage score each performance plays."""

from __future__ import annotations

from pathlib import Path

from pianocoach_train.percepiano.ids import PerformanceId, parse_id


def passage_key(ident: PerformanceId) -> str:
    return f"{ident.work}|{ident.passage}|{ident.bars}|{ident.segment}"


def passage_paths(root: Path) -> dict[str, Path]:
    """The MusicXML file of each passage by :func:`passage_key`, one edition each: ``*_Score_<segment>`` before
    ``*_Score2_<segment>`` (``score_xml`` also holds one whole-work file, beethoven_woo80_score2, not a passage)."""
    paths: dict[str, Path] = {}
    passages = sorted((root / "score_xml").glob("*bars_Score*.musicxml"), key=lambda p: ("Score2_" in p.name, p.name))
    for path in passages:
        paths.setdefault(passage_key(parse_id(path.stem)), path)
    return paths


def performance_scores(root: Path, ids: list[str]) -> dict[str, Path]:
    """The passage score of each performance in ``ids`` that has one (score renders included)."""
    paths = passage_paths(root)
    found = {}
    for raw in ids:
        key = passage_key(parse_id(raw))
        if key in paths:
            found[raw] = paths[key]
    return found
