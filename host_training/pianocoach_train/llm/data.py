"""Building the feedback model's instruction data: pluggable sources -> records -> a split by group
(a performance, never a row) -> ``train.jsonl``, ``validation.jsonl``, ``stats.json`` and a data card.

Sources (:data:`BUILDERS`; each takes the build options and yields :class:`Record`):

- ``percepiano_comment``: a rater's comment (Korean) as the target; the input is that performance's
  measurements and *that rater's own* 19 ratings (their "don't know" answers filled with the mean
  rating), and the overall mark computed from them. Comments are filtered (:mod:`.comments`).
- ``percepiano_template``: for every performance, English and Chinese targets written by the device's
  template engine from the mean ratings and the take's fundamentals, so the model learns the product's format
  and tone; for a seeded share of the performances (``mistake_share``), also the same take with a learner's
  mistakes put in (:mod:`pianocoach_train.mistakes`: one or two of wrong, missed and extra notes, a hesitation,
  a restart), its fundamentals computed on the mutated notes (``meta["simulated"]`` names the mistakes).
- ``jianzipu``: guqin notation question-and-answer turns (:mod:`pianocoach_train.jianzipu.qa`).
- ``musicpile``: general music text from a local MusicPile-format file (``--musicpile``), a subset.

The prompts are the device's own (:func:`pianocoach.feedback.prompt.prompt_messages`), with the fundamentals a
take gets on the device (:func:`pianocoach.scoring.following.take_fundamentals`): a performance with a MusicXML
passage in PercePiano's ``score_xml/`` is followed along that passage (the piece known, as if set by hand), one
without is free play; the mark is the device's two-layer mark. Fundamentals are computed once and cached in
``<out>/fundamentals.json`` (like the measurements in ``measures.json``: delete the file after changing how they
are computed).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pianocoach.features.notes import NoteTable, read_midi
from pianocoach.feedback.aspects import tag_aspects
from pianocoach.feedback.prompt import FeedbackRequest, prompt_messages
from pianocoach.feedback.templates import feedback_text
from pianocoach.jsonio import write_json_atomic
from pianocoach.rating_scales import SCALE_NAMES, overall_mark
from pianocoach.repertoire.align import align
from pianocoach.repertoire.fundamentals import free_fundamentals, two_layer_mark
from pianocoach.repertoire.identify import RepertoireIndex
from pianocoach.repertoire.unfold import played_score
from pianocoach.scoring.following import take_fundamentals
from pianocoach.scoring.input_limits import InputLimits
from pianocoach.scoring.measures import measures
from pianocoach_train.identify_eval import load_repertoire, passage_key
from pianocoach_train.llm.comments import filter_comments, read_comments
from pianocoach_train.llm.records import SOURCES, Record, assign_splits, write_records
from pianocoach_train.percepiano import PercePiano
from pianocoach_train.percepiano.ids import IdError, parse_id

log = logging.getLogger(__name__)

KOREAN_SYSTEM = (
    "You are a listener rating a piano performance. In one or two sentences of Korean, say how it came "
    "across to you, consistent with your ratings."
)
# the mistakes a learner's take gets in the simulated records (pianocoach_train.mistakes, at its rates)
MISTAKE_KINDS = ("wrong", "missed", "extra", "hesitation", "restart")
WORK_TITLES = {
    "Schubert_D960_mv2": "Schubert: Piano Sonata in B-flat major D 960, II. Andante sostenuto",
    "Schubert_D960_mv3": "Schubert: Piano Sonata in B-flat major D 960, III. Scherzo",
    "Schubert_D935_no.3": "Schubert: Impromptu in B-flat major D 935 no. 3",
    "Beethoven_WoO80": "Beethoven: 32 Variations in C minor WoO 80",
}


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
    mistake_share: float = 0.5  # performances with a passage that also get a record with simulated mistakes


def passage_title(key: str) -> str:
    """A passage key (``work|passage|bars|segment``) as a title: the work, and the variation where it has one."""
    work, passage = key.split("|")[:2]
    title = WORK_TITLES.get(work, work)
    if passage:
        title += ", theme" if passage == "thema" else f", {passage.replace('var', 'variation ')}"
    return title


def load_passages(root: Path) -> RepertoireIndex | None:
    """PercePiano's MusicXML passages (``score_xml/``) as the device's repertoire, by passage key; None when the
    folder is missing or empty (every take is then free play, as on a device without a repertoire)."""
    scores, _ = load_repertoire(root)
    if not scores:
        log.info("no MusicXML passages in %s: every take is free play", root / "score_xml")
        return None
    return RepertoireIndex(scores, {key: passage_title(key) for key in scores})


def _plain(value):
    """numpy numbers as Python ones (the cache and the records are JSON)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _as_json(entry: dict) -> dict:
    """The entry as the cache holds it, so a fresh build and a cached one write the same records."""
    return json.loads(json.dumps(entry, default=_plain))


def _mistake_rngs(seed: int, ident: str) -> tuple[np.random.Generator, np.random.Generator]:
    """(whether the performance gets mistakes, which and where): seeded by the build's seed and the performance
    (its id's CRC, stable across runs and machines), separately, so the share chosen changes no mutation."""
    key = zlib.crc32(ident.encode("utf-8"))
    return np.random.default_rng([seed, key, 0]), np.random.default_rng([seed, key, 1])


class PerformanceFacts:
    """Mean ratings, measurements and fundamentals of each PercePiano performance (measurements read from its
    MIDI, cached in ``<out>/measures.json``; fundamentals against its MusicXML passage, or free play, and those of
    the takes with simulated mistakes, cached in ``<out>/fundamentals.json``)."""

    def __init__(self, options: BuildOptions) -> None:
        self.dataset = PercePiano.open(options.percepiano)
        self.labels = {k: v[:19] for k, v in self.dataset.labels.items() if k in self.dataset.midi_files}
        ids = sorted(self.labels)
        # a limit takes performances spread over the whole list (every work, not the first one only)
        self.ids = ids[:: max(1, len(ids) // options.limit)][: options.limit] if options.limit else ids
        self.seed = options.seed
        self._cache_path = options.out / "measures.json"
        self._measures = self._load_measures(options.progress)
        self.repertoire = load_passages(self.dataset.root)
        self._fundamentals_path = options.out / "fundamentals.json"
        share = options.mistake_share if "percepiano_template" in options.sources else 0.0
        # the performances that also get a take with mistakes: those with a passage, a seeded share of them
        self.mistake_ids = [i for i in self.ids if self.passage(i) and _mistake_rngs(self.seed, i)[0].random() < share]
        self._fundamentals = self._load_fundamentals(options.progress)

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

    def passage(self, ident: str) -> str | None:
        """The key of the performance's MusicXML passage in the repertoire, or None (free play)."""
        if self.repertoire is None:
            return None
        try:
            key = passage_key(parse_id(ident))
        except IdError:
            return None
        return key if key in self.repertoire.scores else None

    def _load_fundamentals(self, progress: bool) -> dict[str, dict]:
        path = self._fundamentals_path
        cached = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        wanted = [(i, i) for i in self.ids] + [(self._mistakes_key(i), i) for i in self.mistake_ids]
        missing = [(key, ident) for key, ident in wanted if key not in cached]
        if missing:
            from tqdm import tqdm

            for key, ident in tqdm(missing, desc="fundamentals", unit="take", disable=not progress):
                table = read_midi(self.dataset.midi_path(ident))
                cached[key] = _as_json(self._mistaken(ident, table) if key != ident else self._take(ident, table))
            write_json_atomic(path, cached)
        return cached

    def _mistakes_key(self, ident: str) -> str:
        return f"{ident}#mistakes@{self.seed}"

    def _take(self, ident: str, table: NoteTable) -> dict:
        """What the device gives for the take: ``{"piece", "fundamentals", "bars"}`` (see ``take_fundamentals``).
        Without a passage: free play, the piece None without a repertoire, else the device's "free play"."""
        key = self.passage(ident)
        if key is None:
            piece = None
            if self.repertoire is not None:
                piece = {"id": None, "title": "free play", "confidence": None, "bar": None, "set_by_hand": False}
            found = free_fundamentals(table.onset, table.pitch)
        else:
            piece, found = take_fundamentals(table, "midi", self.repertoire, key)[:2]
        return {"piece": piece, "fundamentals": found.to_dict(), "bars": found.bars}

    def _mistaken(self, ident: str, table: NoteTable) -> dict:
        """The take with one or two kinds of mistake put in (each on the take as the previous one left it, aligned
        again with the passage), then what the device gives for it; ``"mistakes"``: how many of each kind."""
        from pianocoach_train.mistakes import Take, simulate

        key = self.passage(ident)
        assert self.repertoire is not None and key is not None  # chosen among the performances with a passage
        played = played_score(self.repertoire.scores[key])
        rng = _mistake_rngs(self.seed, ident)[1]
        count = int(rng.integers(1, 3))
        kinds = [str(k) for k in rng.choice(MISTAKE_KINDS, size=count, replace=False)]
        take = Take.of(table.onset, table.offset, table.pitch, table.velocity)
        made: dict[str, int] = {}
        for kind in sorted(kinds, key=MISTAKE_KINDS.index):
            take = simulate(take, align(played, take.onset, take.pitch), kind, rng)
            if take.truths:
                made[kind] = len(take.truths)
        mutated = NoteTable.from_arrays(take.onset, take.offset, take.pitch, take.velocity, source=ident)
        return {**self._take(ident, mutated), "mistakes": made}

    def take(self, ident: str, mistakes: bool = False) -> dict:
        """``{"piece", "fundamentals", "bars"}`` of the performance (``mistakes``: of its take with mistakes,
        with ``"mistakes"`` too)."""
        return self._fundamentals[self._mistakes_key(ident) if mistakes else ident]

    def request(
        self,
        ident: str,
        language: str,
        word_limit: int,
        values: np.ndarray | None = None,
        mistakes: bool = False,
        pedal_known: bool = True,
    ) -> FeedbackRequest:
        """The device's request for the performance's take (``mistakes``: its take with mistakes; the scales stay
        the listeners' ratings of the clean take, the mark's first layer comes from the fundamentals).
        ``pedal_known`` False: as the device asks for a take whose input gives no pedal (a digital piano that sends
        none): the pedal scales left out of the values and the mark, the pedal measures unknown."""
        scale_values = dict(zip(SCALE_NAMES, (values if values is not None else self.labels[ident]).tolist()))
        limits = InputLimits("midi", pedal_known)
        unknown = limits.unknown_scales
        take = self.take(ident, mistakes)
        found = take["fundamentals"]
        return FeedbackRequest(
            {name: value for name, value in scale_values.items() if name not in unknown},
            two_layer_mark(found["factor"], overall_mark(scale_values, unknown)),
            limits.mark_measures(self._measures[ident]),
            language,
            word_limit,
            fundamentals=found,
            bars=take["bars"],
            piece=take["piece"],
        )


def template_records(options: BuildOptions, facts: PerformanceFacts) -> Iterator[Record]:
    """Per performance, English then Chinese; then, for those chosen, the same with simulated mistakes."""
    chosen = set(facts.mistake_ids)
    for number, ident in enumerate(facts.ids):
        for mistakes in (False, True) if ident in chosen else (False,):
            take = facts.take(ident, mistakes)
            made = take.get("mistakes")
            if mistakes and not made:  # no place for the mistakes drawn (a very short take)
                continue
            meta = {"performance": ident, "piece": (take["piece"] or {}).get("id")}
            if mistakes:
                meta["simulated"] = made
            # every fourth take without a twin with mistakes (whose mark is compared with it) as an input without
            # pedal: the model learns to leave the pedal alone
            pedal_known = ident in chosen or number % 4 != 3
            if not pedal_known:
                meta["pedal"] = "unknown"
            for language in ("en", "zh"):
                request = facts.request(ident, language, options.word_limit, mistakes=mistakes, pedal_known=pedal_known)
                target = feedback_text(
                    request.values,
                    request.mark,
                    request.measures,
                    language,
                    fundamentals=request.fundamentals,
                    bars=request.bars,
                )
                yield Record(
                    f"percepiano-template-{number:06d}-{'mistakes-' if mistakes else ''}{language}",
                    "percepiano_template",
                    ident,
                    language,
                    messages=prompt_messages(request) + [{"role": "assistant", "content": target}],
                    meta=dict(meta),
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
    if not 0.0 <= options.mistake_share <= 1.0:
        raise ValueError(f"mistake_share is a share of the performances, 0 to 1 (not {options.mistake_share})")
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
    if facts is not None:
        takes = [facts.take(i) for i in facts.ids]
        followed = [t["fundamentals"]["notes"] for t in takes if t["fundamentals"]["mode"] == "score"]
        stats["fundamentals"] = {
            "performances": len(takes),
            "against_a_passage": len(followed),
            "free_play": len(takes) - len(followed),
            "median_accuracy_pct": round(float(np.median([n["accuracy_pct"] for n in followed])), 1)
            if followed
            else None,
            "with_a_stop": sum(1 for t in takes if t["fundamentals"]["stops"]),
        }
    if "percepiano_template" in options.sources:
        simulated = [r for r in records if r.source == "percepiano_template" and "simulated" in r.meta]
        performances = {r.group: r.meta["simulated"] for r in simulated}
        stats["mistakes"] = {
            "share": options.mistake_share,
            "seed": options.seed,
            "performances": len(performances),
            "records": {split: sum(1 for r in simulated if r.split == split) for split in ("train", "validation")},
            "kinds": dict(sorted(Counter(k for made in performances.values() for k in made).items())),
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
    if "fundamentals" in stats:
        f = stats["fundamentals"]
        median = f["median_accuracy_pct"]
        accuracy = f" (median {median} % of notes right)" if median is not None else ""
        lines += [
            "## Fundamentals",
            "",
            "Every PercePiano prompt carries the fundamentals the device computes for the take",
            "(`pianocoach/scoring/following.py`), and its mark is the device's two-layer mark.",
            f"Of the {f['performances']} performances, {f['against_a_passage']} were followed along their MusicXML "
            f"passage{accuracy}",
            f"and {f['free_play']} scored as free play; {f['with_a_stop']} had a stop.",
            "",
        ]
    if "mistakes" in stats:
        m = stats["mistakes"]
        kinds = ", ".join(f"{k} {v}" for k, v in m["kinds"].items()) or "none"
        lines += [
            "## Simulated mistakes",
            "",
            f"For a share of {m['share']:g} of the performances with a passage (seed {m['seed']}), the take is also "
            "written with",
            "a learner's mistakes put in (`pianocoach_train/mistakes.py`: one or two kinds, at the simulator's rates),",
            "its fundamentals computed on the mutated notes and the template target written from them:",
            f"{m['performances']} performances, {m['records']['train']} train and {m['records']['validation']} "
            "validation records (source",
            f"`percepiano_template`; `meta.simulated` names the mistakes). Performances by kind: {kinds}.",
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
        "- A take with simulated mistakes keeps the listeners' ratings of the clean take: only its fundamentals and",
        "  the mark's first layer show the mistakes.",
        "- MusicPile text is included only when a local file is given; nothing is downloaded.",
    ]
    return "\n".join(lines) + "\n"
