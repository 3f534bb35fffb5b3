"""Building the feedback model's instruction data: pluggable sources -> records -> a split by group
(a performance, never a row) -> ``train.jsonl``, ``validation.jsonl``, ``stats.json`` and a data card.

Sources (:data:`BUILDERS`; each takes the build options and yields :class:`Record`):

- ``percepiano_comment``: a rater's comment (Korean) as the target; the input is that performance's
  measurements and *that rater's own* 19 ratings (their "don't know" answers filled with the mean
  rating), and the overall mark computed from them. Comments are filtered (:mod:`.comments`).
- ``percepiano_template``: for every performance, English and Chinese targets written by the device's
  template engine from the mean ratings, so the model learns the product's format and tone.
- ``jianzipu``: guqin notation question-and-answer turns (:mod:`pianocoach_train.jianzipu.qa`).
- ``musicpile``: general music text from a local MusicPile-format file (``--musicpile``), a subset.

The prompts are the device's own (:func:`pianocoach.feedback.prompt.prompt_messages`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pianocoach.features.notes import read_midi
from pianocoach.feedback.aspects import tag_aspects
from pianocoach.feedback.prompt import FeedbackRequest, prompt_messages
from pianocoach.feedback.templates import feedback_text
from pianocoach.jsonio import write_json_atomic
from pianocoach.rating_scales import SCALE_NAMES, overall_mark
from pianocoach.scoring.measures import measures
from pianocoach_train.llm.comments import filter_comments, read_comments
from pianocoach_train.llm.records import SOURCES, Record, assign_splits, write_records
from pianocoach_train.percepiano import PercePiano

log = logging.getLogger(__name__)

KOREAN_SYSTEM = (
    "You are a listener rating a piano performance. In one or two sentences of Korean, say how it came "
    "across to you, consistent with your ratings."
)


@dataclass(frozen=True)
class BuildOptions:
    percepiano: Path
    out: Path
    sources: tuple[str, ...] = ("percepiano_comment", "percepiano_template", "jianzipu")
    validation_fraction: float = 0.1
    limit: int = 0  # performances (0: all); tests use a few
    musicpile: Path | None = None
    musicpile_size: int = 2000
    jianzipu_characters: int = 600
    word_limit: int = 45
    progress: bool = False
    seed: int = 0


class PerformanceFacts:
    """Mean ratings and measurements of each PercePiano performance (measurements read from its MIDI,
    cached in ``<out>/measures.json``)."""

    def __init__(self, options: BuildOptions) -> None:
        self.dataset = PercePiano.open(options.percepiano)
        self.labels = {k: v[:19] for k, v in self.dataset.labels.items() if k in self.dataset.midi_files}
        ids = sorted(self.labels)
        # a limit takes performances spread over the whole list (every work, not the first one only)
        self.ids = ids[:: max(1, len(ids) // options.limit)][: options.limit] if options.limit else ids
        self._cache_path = options.out / "measures.json"
        self._measures = self._load_measures(options.progress)

    @cached_property
    def rater_comments(self) -> tuple[list, Counter]:
        """The filtered rater comments and the filter's counts (ratings.csv is read once per build)."""
        return filter_comments(read_comments(self.dataset.root))

    def _load_measures(self, progress: bool) -> dict[str, dict]:
        cached = json.loads(self._cache_path.read_text(encoding="utf-8")) if self._cache_path.is_file() else {}
        missing = [i for i in self.ids if i not in cached]
        if missing:
            from tqdm import tqdm

            for ident in tqdm(missing, desc="measurements", unit="performance", disable=not progress):
                cached[ident] = {k: m.to_dict() for k, m in measures(read_midi(self.dataset.midi_path(ident))).items()}
            write_json_atomic(self._cache_path, cached)
        return cached

    def request(self, ident: str, language: str, word_limit: int, values: np.ndarray | None = None) -> FeedbackRequest:
        scale_values = dict(zip(SCALE_NAMES, (values if values is not None else self.labels[ident]).tolist()))
        return FeedbackRequest(scale_values, overall_mark(scale_values), self._measures[ident], language, word_limit)


def template_records(options: BuildOptions, facts: PerformanceFacts) -> Iterator[Record]:
    for number, ident in enumerate(facts.ids):
        for language in ("en", "zh"):
            request = facts.request(ident, language, options.word_limit)
            target = feedback_text(request.values, request.mark, request.measures, language)
            yield Record(
                f"percepiano-template-{number:06d}-{language}",
                "percepiano_template",
                ident,
                language,
                messages=prompt_messages(request) + [{"role": "assistant", "content": target}],
                meta={"performance": ident},
            )


def comment_records(options: BuildOptions, facts: PerformanceFacts) -> Iterator[Record]:
    comments, counts = facts.rater_comments
    log.info(
        "rater comments: %d kept, %d about the survey, %d empty", counts["kept"], counts["survey"], counts["empty"]
    )
    wanted = set(facts.ids)
    for number, comment in enumerate(comments):
        if comment.performance not in wanted:
            continue
        mean = facts.labels[comment.performance]
        own = np.where(np.isnan(comment.ratings), mean * 7.0, comment.ratings) / 7.0
        request = facts.request(comment.performance, "en", options.word_limit, own)
        messages = [
            {"role": "system", "content": KOREAN_SYSTEM},
            prompt_messages(request)[1],
            {"role": "assistant", "content": comment.message},
        ]
        yield Record(
            f"percepiano-comment-{number:06d}",
            "percepiano_comment",
            comment.performance,
            "ko",
            messages=messages,
            meta={
                "performance": comment.performance,
                "rater": comment.rater,
                "aspects": sorted(tag_aspects(comment.message)),
            },
        )


def jianzipu_records(options: BuildOptions, facts: PerformanceFacts | None) -> Iterator[Record]:
    from pianocoach_train.jianzipu.qa import build_turns

    for row in build_turns(characters=options.jianzipu_characters, seed=options.seed):
        yield Record(
            row["id"], "jianzipu", row["id"], row["language"], messages=row["messages"], meta={"kind": row["kind"]}
        )


def musicpile_records(options: BuildOptions, facts: PerformanceFacts | None) -> Iterator[Record]:
    from pianocoach_train.llm.musicpile import make_subset

    if options.musicpile is None:
        log.info("no MusicPile file given (--musicpile): no general music text")
        return
    yield from make_subset(options.musicpile, options.musicpile_size, options.seed)


BUILDERS: dict[str, Callable[[BuildOptions, PerformanceFacts | None], Iterator[Record]]] = {
    "percepiano_comment": comment_records,
    "percepiano_template": template_records,
    "jianzipu": jianzipu_records,
    "musicpile": musicpile_records,
}
assert set(BUILDERS) == set(SOURCES)


def build_instruction_data(options: BuildOptions) -> dict:
    """Write the data set; returns its statistics (also in ``stats.json``)."""
    unknown = set(options.sources) - set(BUILDERS)
    if unknown:
        raise ValueError(f"unknown instruction sources {', '.join(sorted(unknown))} (known: {', '.join(BUILDERS)})")
    needs_facts = any(s.startswith("percepiano") for s in options.sources)
    facts = PerformanceFacts(options) if needs_facts else None
    records = [r for source in options.sources for r in BUILDERS[source](options, facts)]
    records = list(assign_splits(records, options.validation_fraction))
    for split in ("train", "validation"):
        write_records((r for r in records if r.split == split), options.out / f"{split}.jsonl")
    stats = _statistics(records, options, facts)
    write_json_atomic(options.out / "stats.json", stats)
    (options.out / "DATA_CARD.md").write_text(data_card(stats), encoding="utf-8")
    return stats


def _statistics(records: list[Record], options: BuildOptions, facts: PerformanceFacts | None) -> dict:
    by = Counter((r.source, r.split) for r in records)
    groups = {split: {r.group for r in records if r.split == split} for split in ("train", "validation")}
    stats = {
        "sources": {s: {"train": by[(s, "train")], "validation": by[(s, "validation")]} for s in options.sources},
        "records": len(records),
        "languages": dict(Counter(r.language for r in records)),
        "groups_overlap": len(groups["train"] & groups["validation"]),
        "validation_fraction": options.validation_fraction,
        "performances": options.limit or "all",
    }
    if "percepiano_comment" in options.sources:
        _, counts = facts.rater_comments
        comments = [r for r in records if r.source == "percepiano_comment"]
        stats["comments"] = {
            "with_message": sum(counts.values()),
            "kept": counts["kept"],
            "survey": counts["survey"],
            "empty": counts["empty"],
            "used": len(comments),
            "naming_an_aspect": sum(1 for r in comments if r.meta["aspects"]),
            "aspects": dict(Counter(a for r in comments for a in r.meta["aspects"])),
        }
    return stats


def data_card(stats: dict) -> str:
    rows = "\n".join(f"| {s} | {n['train']} | {n['validation']} |" for s, n in stats["sources"].items())
    lines = [
        "# PianoCoach feedback instruction data",
        "",
        "Chat records for fine-tuning the feedback language model (schema: `pianocoach_train/llm/records.py`).",
        "Built by `python -m pianocoach_train llm data`; the split is drawn by group (a performance for PercePiano",
        f"records), so no performance is on both sides (groups on both sides: {stats['groups_overlap']}).",
        "",
        "| source | train | validation |",
        "| --- | ---: | ---: |",
        rows,
        "",
        f"Languages: {', '.join(f'{k} {v}' for k, v in sorted(stats['languages'].items()))}.",
        "",
    ]
    if "comments" in stats:
        c = stats["comments"]
        lines += [
            "## Rater comments",
            "",
            f"PercePiano's `labels/ratings.csv` has {c['with_message']} rows with a comment (Korean). The filter",
            "(`pianocoach_train/llm/comments.py`) drops comments with fewer than 5 letters "
            f"({c['empty']}) and comments about the survey, the rating task or the recording that name no aspect",
            f"of playing ({c['survey']}); {c['kept']} remain, {c['used']} of them for the performances built here,",
            f"{c['naming_an_aspect']} naming at least one aspect: "
            + ", ".join(f"{k} {v}" for k, v in sorted(c["aspects"].items(), key=lambda kv: -kv[1]))
            + ".",
            "Each is paired with that rater's own 19 ratings (a \"don't know\" answer is filled with the mean rating).",
            "",
        ]
    lines += [
        "## Limits",
        "",
        "- The comments are Korean; the device asks for English or Chinese. The template records teach the format",
        "  in both; the comments teach what listeners notice.",
        "- Template targets are only as good as the templates: the model learns their wording.",
        "- MusicPile text is included only when a local file is given; nothing is downloaded.",
    ]
    return "\n".join(lines) + "\n"
