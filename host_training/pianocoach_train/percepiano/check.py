"""``data check``: read the whole dataset and report counts, label statistics and every problem found.

Nothing stops at the first problem: each check collects :class:`Problem` rows and the report lists all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from pianocoach.errors import PianoCoachError
from pianocoach.features import read_midi
from pianocoach_train.percepiano.dataset import PercePiano
from pianocoach_train.percepiano.ids import IdError, parse_id
from pianocoach_train.percepiano.labels import SCALES
from pianocoach_train.percepiano.problems import Problem
from pianocoach_train.percepiano.splits import SPLIT_FILES, check_split


@dataclass
class CheckReport:
    root: str
    performances: int = 0
    labelled: int = 0
    works: dict[str, int] = field(default_factory=dict)
    performers: dict[str, dict[str, int]] = field(default_factory=dict)  # performer -> work -> count
    splits: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> part -> count
    label_stats: list[dict] = field(default_factory=list)  # per scale: name, mean, std, min, max
    normalised: list[tuple[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data["problems"] = [p.__dict__ for p in self.problems]
        return data


def check_dataset(dataset: PercePiano, read_files: bool = True, progress: bool = True) -> CheckReport:
    report = CheckReport(root=str(dataset.root), normalised=list(dataset.normalised))
    report.problems.extend(dataset.index_problems)
    midi_ids = set(dataset.midi_files)
    label_set = dataset.read_label_set()
    report.problems.extend(label_set.problems)
    label_ids = set(label_set.labels)

    for ident in sorted(label_ids - midi_ids):
        report.problems.append(
            Problem("missing MIDI", ident, f"labelled in {dataset.label_path} but no midi/{ident}.mid")
        )
    for ident in sorted(midi_ids - label_ids):
        report.problems.append(
            Problem("unlabelled MIDI", ident, f"{dataset.midi_files[ident]} has no row in {dataset.label_path}")
        )

    _count_performances(report, midi_ids)
    report.labelled = len(label_ids & midi_ids)
    report.label_stats = _label_stats(label_set.labels)

    for name in SPLIT_FILES:
        try:
            split = dataset.split(name)
        except PianoCoachError as exc:
            report.problems.append(Problem("unreadable split", name, str(exc)))
            continue
        report.splits[name] = {part: len(ids) for part, ids in split.parts.items()}
        report.problems.extend(check_split(split, midi_ids, label_ids))

    if read_files:
        for ident, path in tqdm(
            sorted(dataset.midi_files.items()), desc="reading MIDI", unit="file", disable=not progress
        ):
            try:
                read_midi(path)
            except PianoCoachError as exc:
                report.problems.append(Problem("unreadable MIDI", ident, str(exc)))
    return report


def _count_performances(report: CheckReport, midi_ids: set[str]) -> None:
    works: Counter[str] = Counter()
    performers: dict[str, Counter[str]] = {}
    for ident in sorted(midi_ids):
        try:
            perf = parse_id(ident)
        except IdError as exc:
            report.problems.append(Problem("bad id", ident, str(exc)))
            continue
        works[perf.work] += 1
        performers.setdefault(perf.performer, Counter())[perf.work] += 1
    report.performances = len(midi_ids)
    report.works = dict(sorted(works.items()))
    report.performers = {p: dict(c) for p, c in sorted(performers.items(), key=lambda kv: _performer_order(kv[0]))}


def _performer_order(performer: str) -> tuple[int, str]:
    return (0, f"{int(performer):04d}") if performer.isdigit() else (1, performer)


def _label_stats(labels: dict[str, np.ndarray]) -> list[dict]:
    if not labels:
        return []
    matrix = np.stack(list(labels.values()))
    return [
        {
            "scale": i,
            "name": name,
            "mean": float(col.mean()),
            "std": float(col.std()),
            "min": float(col.min()),
            "max": float(col.max()),
        }
        for i, (name, col) in enumerate(zip(SCALES, matrix.T))
    ]


def format_report(report: CheckReport) -> str:
    lines = [f"PercePiano at {report.root}", ""]
    lines.append(
        f"performances: {report.performances} MIDI files, {report.labelled} labelled, {len(report.works)} works"
    )
    for work, count in report.works.items():
        lines.append(f"  {work:<22} {count:5d}")

    works = list(report.works)
    lines += [
        "",
        "performers (performer ids are per work):",
        "  " + f"{'performer':<10}" + "".join(f"{w:>20}" for w in works),
    ]
    for performer, counts in report.performers.items():
        lines.append("  " + f"{performer:<10}" + "".join(f"{counts.get(w, 0) or '-':>20}" for w in works))

    lines += ["", "splits:"]
    for name, parts in report.splits.items():
        sizes = ", ".join(f"{part} {count}" for part, count in parts.items())
        lines.append(f"  {name:<10} {sizes}")

    lines += [
        "",
        "labels (19 scale means in [1/7, 1]):",
        f"  {'#':>2} {'scale':<52} {'mean':>6} {'std':>6} {'min':>6} {'max':>6}",
    ]
    for s in report.label_stats:
        lines.append(
            f"  {s['scale']:>2} {s['name']:<52} {s['mean']:6.3f} {s['std']:6.3f} {s['min']:6.3f} {s['max']:6.3f}"
        )

    lines += ["", f"file names normalised to their id: {len(report.normalised)}"]
    lines += [f"  {name!r} -> {ident}" for name, ident in report.normalised]

    lines += ["", f"problems: {len(report.problems)}" if report.problems else "problems: none"]
    by_kind = Counter(p.kind for p in report.problems)
    for kind, count in by_kind.items():
        lines.append(f"  {kind}: {count}")
    lines += [f"  - {p}" for p in report.problems]
    return "\n".join(lines)
