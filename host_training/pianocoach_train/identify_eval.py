"""``python -m pianocoach_train.identify_eval``: how well the device tells which piece is played (issue 18, item 2).

Repertoire: PercePiano's MusicXML passages (one edition each: ``*_Score_<segment>``, else ``*_Score2_<segment>``).
Takes: its performance MIDI files by skilled pianists (score renders left out), cut to the first T seconds, or to T
seconds starting at 40 % of the take (mid-piece). "Not in the repertoire": each work's takes against the repertoire
without that work, which must stay free play. PercePiano's passages overlap (an 8-bar passage is also inside a
16-bar one), so three levels are counted: the exact passage ranked first; the right music (the take's passage
within 5 % of the best weight, i.e. tied with a passage holding the same notes); any passage of the right work.
Writes ``reports/repertoire/identify.json``, ``identify.md`` and ``identify.png``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from pianocoach.features import read_midi
from pianocoach.jsonio import write_json_atomic
from pianocoach.repertoire import read_musicxml
from pianocoach.repertoire.identify import MIN_COVERAGE, RepertoireIndex
from pianocoach_train.paths import REPO_ROOT, percepiano_root
from pianocoach_train.percepiano import PercePiano
from pianocoach_train.percepiano.ids import parse_id
from pianocoach_train.percepiano.passages import passage_key, passage_paths
from pianocoach_train.plots import pyplot, save_figure

log = logging.getLogger(__name__)
SECONDS = (2.0, 4.0, 6.0, 8.0, 12.0)
MID_START = 0.4  # mid-piece takes start at this share of the take
TIE = 0.95  # a passage within 5 % of the best weight holds the same music


def load_repertoire(root: Path) -> tuple[dict, dict[str, str]]:
    """Scores by passage key (edition Score before Score2) and the work of each."""
    scores, works = {}, {}
    for key, path in passage_paths(root).items():
        scores[key] = read_musicxml(path)
        works[key] = parse_id(path.stem).work
    return scores, works


def window(table, start: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    keep = (table.onset >= start) & (table.onset < start + seconds)
    return table.onset[keep], table.pitch[keep]


def evaluate(root: Path) -> dict:
    scores, works = load_repertoire(root)
    index = RepertoireIndex(scores)
    dataset = PercePiano.open(root)
    takes = []
    for raw in sorted(dataset.midi_files):
        ident = parse_id(raw)
        if ident.is_score_render or passage_key(ident) not in scores:
            continue
        takes.append((passage_key(ident), ident.work, read_midi(dataset.midi_files[raw])))
    results: dict = {"repertoire_passages": len(scores), "takes": len(takes), "min_coverage": MIN_COVERAGE}
    timings = []
    for where in ("start", "mid"):
        rows = []
        for seconds in SECONDS:
            piece_right = music_right = work_right = free = 0
            for key, work, table in takes:
                start = table.start if where == "start" else table.start + MID_START * (table.end - table.start)
                onsets, pitches = window(table, start, seconds)
                started = time.perf_counter()
                match = index.identify(onsets, pitches)
                timings.append(1000 * (time.perf_counter() - started))
                free += match is None
                piece_right += match is not None and match.piece_id == key
                work_right += match is not None and works[match.piece_id] == work
                if match is not None:
                    truth = next((m for m in index.rank(onsets, pitches, limit=len(scores)) if m.piece_id == key), None)
                    music_right += truth is not None and truth.weight >= TIE * match.weight
            n = len(takes)
            rows.append(
                {
                    "seconds": seconds,
                    "right_passage": round(piece_right / n, 4),
                    "right_music": round(music_right / n, 4),
                    "right_work": round(work_right / n, 4),
                    "free_play": round(free / n, 4),
                }
            )
            log.info(
                "%s, %g s: passage %.3f, work %.3f, free play %.3f",
                where,
                seconds,
                piece_right / n,
                work_right / n,
                free / n,
            )
        results[where] = rows
    results["not_in_repertoire"] = _unknown_work(scores, works, takes)
    results["identify_ms"] = {
        "median": round(float(np.median(timings)), 3),
        "p99": round(float(np.percentile(timings, 99)), 3),
    }
    return results


def _unknown_work(scores: dict, works: dict, takes: list, seconds: float = 8.0) -> dict:
    """Each work's takes (first ``seconds``) against the repertoire without that work: the share kept free play."""
    by_work = defaultdict(list)
    for key, work, table in takes:
        by_work[work].append(table)
    report = {}
    for work, tables in sorted(by_work.items()):
        index = RepertoireIndex({k: s for k, s in scores.items() if works[k] != work})
        free = sum(index.identify(*window(t, t.start, seconds)) is None for t in tables)
        report[work] = round(free / len(tables), 4)
    return report


def write_report(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "identify.json", results)
    lines = [
        f"Repertoire: {results['repertoire_passages']} PercePiano passages; takes: {results['takes']} "
        f"performances (MIDI, skilled pianists); free play below coverage {results['min_coverage']}.",
        "",
        "| take | seconds played | right passage | right music | right work | free play |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for where in ("start", "mid"):
        for row in results[where]:
            lines.append(
                f"| from the {'start' if where == 'start' else 'middle'} | {row['seconds']:g} | "
                f"{row['right_passage']:.3f} | {row['right_music']:.3f} | {row['right_work']:.3f} | "
                f"{row['free_play']:.3f} |"
            )
    lines += [
        "",
        "Not in the repertoire (8 s from the start, the work left out): kept as free play "
        + ", ".join(f"{w} {v:.3f}" for w, v in results["not_in_repertoire"].items())
        + ".",
        f"Identification time: median {results['identify_ms']['median']} ms, "
        f"99th percentile {results['identify_ms']['p99']} ms a call (one core).",
    ]
    (out / "identify.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for where, style in (("start", "-o"), ("mid", "--s")):
        xs = [r["seconds"] for r in results[where]]
        ax.plot(xs, [r["right_music"] for r in results[where]], style, label=f"right music (from the {where})")
        ax.plot(xs, [r["right_work"] for r in results[where]], style, alpha=0.4, label=f"right work (from the {where})")
    ax.set(xlabel="seconds played", ylabel="share of takes", ylim=(0, 1.02), title="Which piece is this?")
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, out / "identify.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pianocoach_train.identify_eval", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", help="PercePiano folder (default $PIANOCOACH_PERCEPIANO or ../shared/percepiano)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "repertoire")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    results = evaluate(percepiano_root(args.data))
    write_report(results, args.out)
    print((args.out / "identify.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
