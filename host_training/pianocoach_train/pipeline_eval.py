"""``python -m pianocoach_train.pipeline_eval``: does the device deliver its model's accuracy? (issue 19, item 5)

The performer split's test list (PercePiano MIDI files by skilled pianists) is scored by the device's own pipeline,
as `pianocoach score` runs it (the file streamed in 2 s blocks, windows, aggregation, the bundle's ONNX scorer), and
the R² / Pearson r of its result against the listeners' ratings is set beside the same bundle's scorer run offline on
the whole take's descriptor vector (the feature store's, the figure `make eval` reports). Rows:

- *windows*: every 20 s window of the take scored and averaged (weighted as the device did before issue 19);
- *whole take*: the device now scores a take up to ``SessionSettings.whole_take_max_s`` as one vector;
- *whole take, score given*: the same with the passage's MusicXML set by hand (`pianocoach score --score FILE`),
  so the score-relative descriptors are filled in.

Writes ``reports/pipeline/pipeline.json``, ``pipeline.md`` and ``pipeline.png`` (R² by take length).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pianocoach.features.score_relative import without_score
from pianocoach.inputs import open_file
from pianocoach.repertoire import read_musicxml
from pianocoach.repertoire.identify import RepertoireIndex
from pianocoach.scoring import BundleScorer, score_source
from pianocoach.scoring.session import SessionSettings
from pianocoach_train.eval_report import write_benchmark
from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.metrics import pearson_per_scale, r2_mean
from pianocoach_train.paths import REPO_ROOT, percepiano_root
from pianocoach_train.percepiano import PercePiano
from pianocoach_train.percepiano.ids import parse_id
from pianocoach_train.percepiano.passages import passage_key, passage_paths
from pianocoach_train.plots import pyplot, save_figure

log = logging.getLogger(__name__)
LENGTHS = ((0.0, 20.0), (20.0, 40.0), (40.0, float("inf")))  # take length buckets, seconds
WINDOWS_ONLY = replace(SessionSettings(), whole_take_max_s=0.0)


def pipeline_scores(ids: list[str], dataset: PercePiano, scorer: BundleScorer, settings: SessionSettings, scores=None):
    """(19 scale values per take, its duration) through the device's pipeline; ``scores``: passage MusicXML per id
    (the piece set by hand) or None (free play)."""
    values, durations = [], []
    desc = "pipeline" + (" (score given)" if scores else "") + (" (windows)" if settings.whole_take_max_s == 0 else "")
    for ident in tqdm(ids, desc=desc, unit="take", disable=None):
        repertoire = RepertoireIndex({"piece": scores[ident]}) if scores else None
        result = score_source(
            open_file(dataset.midi_files[ident], 2.0, False),
            scorer,
            settings,
            repertoire=repertoire,
            piece_id="piece" if scores else None,
        )
        values.append(result.scale_values)
        durations.append(result.duration_s)
    return np.asarray(values, np.float64), np.asarray(durations)


def figures(labels: np.ndarray, predicted: np.ndarray, durations: np.ndarray) -> dict:
    out = {
        "r2": round(r2_mean(labels, predicted), 4),
        "pearson": round(float(np.mean(pearson_per_scale(labels, predicted))), 4),
        "by_length": [],
    }
    for low, high in LENGTHS:
        chosen = (durations > low) & (durations <= high)
        r2 = r2_mean(labels[chosen], predicted[chosen]) if chosen.sum() >= 5 else None
        out["by_length"].append({"from_s": low, "to_s": high, "takes": int(chosen.sum()), "r2": r2 and round(r2, 4)})
    return out


def evaluate(root: Path, bundle: Path | None = None) -> dict:
    dataset = PercePiano.open(root)
    store = FeatureStore(dataset)
    scorer = BundleScorer(bundle) if bundle else BundleScorer()
    ids = sorted(i for i in dataset.split("performer").test if i in dataset.midi_files)
    labels = store.labels(ids)
    passages = passage_paths(root)
    read: dict[str, object] = {}
    scores = {}
    for ident in ids:
        key = passage_key(parse_id(ident))
        if key in passages:
            scores[ident] = read.setdefault(key, read_musicxml(passages[key]))
    vectors = store.vectors_for(ids)
    report: dict = {"bundle": scorer.bundle_id, "takes": len(ids), "rows": {}}
    windows, durations = pipeline_scores(ids, dataset, scorer, WINDOWS_ONLY)
    whole, _ = pipeline_scores(ids, dataset, scorer, SessionSettings())
    with_score, _ = pipeline_scores(ids, dataset, scorer, SessionSettings(), scores)
    offline_free = np.asarray([scorer.score(v, "midi") for v in without_score(vectors, store.settings)])
    offline = np.asarray([scorer.score(v, "midi") for v in vectors])
    rows = {
        "pipeline, windows (before)": windows,
        "pipeline, whole take": whole,
        "pipeline, whole take, score given": with_score,
        "offline, free play vector": offline_free,
        "offline, with score": offline,
    }
    for name, predicted in rows.items():
        report["rows"][name] = figures(labels, predicted, durations)
    report["whole_take_max_s"] = SessionSettings().whole_take_max_s
    report["durations_s"] = {
        q: round(float(np.percentile(durations, p)), 1) for q, p in (("min", 0), ("median", 50), ("max", 100))
    }
    return report


def markdown(report: dict) -> str:
    lengths = " | ".join(f"R² {low:g}-{high:g} s" if high < 1e9 else f"R² > {low:g} s" for low, high in LENGTHS)
    first = next(iter(report["rows"].values()))
    counts = " / ".join(str(b["takes"]) for b in first["by_length"])
    lines = [
        f"Performer split test list: {report['takes']} PercePiano MIDI takes (skilled pianists; takes per length "
        f"bucket {counts}; {report['durations_s']['min']}-{report['durations_s']['max']} s, median "
        f"{report['durations_s']['median']} s). Bundle {report['bundle']}.",
        "",
        f"| scored by | R² | Pearson r | {lengths} |",
        "| --- | --- | --- | " + " | ".join("---" for _ in LENGTHS) + " |",
    ]
    for name, row in report["rows"].items():
        cells = " | ".join("—" if b["r2"] is None else f"{b['r2']:.3f}" for b in row["by_length"])
        lines.append(f"| {name} | {row['r2']:.3f} | {row['pearson']:.3f} | {cells} |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    names = list(report["rows"])
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        values = [b["r2"] if b["r2"] is not None else np.nan for b in report["rows"][name]["by_length"]]
        ax.bar(np.arange(len(LENGTHS)) + k * width, values, width, label=name)
    ax.set_xticks(np.arange(len(LENGTHS)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{a:g}-{b:g} s" if b < 1e9 else f"> {a:g} s" for a, b in LENGTHS])
    ax.set(ylabel="R² (mean of 19 scales)", title="The device's pipeline against its model offline, by take length")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pianocoach_train.pipeline_eval", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", help="PercePiano folder (default $PIANOCOACH_PERCEPIANO or ../shared/percepiano)")
    parser.add_argument("--bundle", type=Path, help="a model bundle folder (default: the committed default bundle)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "pipeline")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = evaluate(percepiano_root(args.data), args.bundle)
    write_benchmark(args.out, "pipeline", report, markdown, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
