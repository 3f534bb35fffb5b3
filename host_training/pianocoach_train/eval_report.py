"""Evaluation reports of ``make eval``: ``<run>.json``, a markdown table beside the published numbers, and plots
(reports/eval/)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from pianocoach.jsonio import write_json_atomic
from pianocoach_train.percepiano import SCALES
from pianocoach_train.plots import pyplot, save_figure


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def markdown_table(report: dict) -> str:
    folds = [f for result in report["splits"].values() for f in result["folds"]]
    reused = sum(1 for f in folds if f.get("reused_run"))
    timing = f"{report['wall_seconds'] / 60:.1f} min" + (
        f", {reused} of {len(folds)} fold models reused from earlier runs" if reused else ""
    )
    title = report["model"] + ("" if report.get("config", {}).get("augment", True) else ", no augmentation")
    lines = [
        f"### {title} (features {report['feature_settings_sha256'][:12]}, {report['created']}, "
        f"{timing}; ONNX {report.get('onnx_bytes', 0) / 1e6:.1f} MB)",
        "",
        "| split | R² (mean of 4 folds) | R² per fold | Pearson r | within-passage pairwise acc. | R² as free play "
        "| best published R² |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for split, result in report["splits"].items():
        mean = result["mean"]
        published = report["published"].get(split)
        best = f"{max(published.values()):.3f} ({max(published, key=published.get)})" if published else "—"
        folds = " / ".join(f"{r:.3f}" for r in mean["r2_folds"])
        lines.append(
            f"| {split} | **{mean['r2']:.3f}** | {folds} | {mean['pearson']:.3f} | "
            f"{_fmt(mean['pairwise_accuracy'])} | {_fmt(mean.get('r2_free_play'))} | {best} |"
        )
    lines += [
        "",
        "R² as free play: the same test takes scored without their score (the score-relative descriptors 0), as the "
        "device scores a piece not in its repertoire.",
    ]
    work = report["splits"].get("work")
    if work:
        held = ", ".join(f"{f['held_out_work']} {f['r2']:.3f}" for f in work["folds"])
        lines += ["", f"Work split, R² per held-out work: {held}."]
    return "\n".join(lines) + "\n"


def per_scale_chart(report: dict, path: Path) -> None:
    plt = pyplot()
    splits = list(report["splits"])
    fig, ax = plt.subplots(figsize=(11, 5.5))
    width = 0.8 / len(splits)
    y = np.arange(len(SCALES))
    for i, split in enumerate(splits):
        r2 = report["splits"][split]["mean"]["r2_per_scale"]
        ax.barh(y + i * width, r2, height=width, label=f"{split} (mean {np.mean(r2):.3f})")
    ax.set_yticks(y + 0.4 - width / 2)
    ax.set_yticklabels(SCALES, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("test R² (mean of fold models)")
    ax.set_title(f"{report['model']}: R² per perceptual scale")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    save_figure(fig, path)


def write_report(report: dict, out_dir: Path, run: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / f"{run}.json",
        "markdown": out_dir / f"{run}.md",
        "chart": out_dir / f"{run}-per-scale.png",
    }
    per_scale_chart(report, paths["chart"])
    text = markdown_table(report) + f"\n![R² per scale]({paths['chart'].name})\n"
    for name, figure in report.get("figures", {}).items():
        text += f"\n![{name}]({Path(figure).name})\n"
    tmp = paths["markdown"].with_name(paths["markdown"].name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(paths["markdown"])
    write_json_atomic(paths["json"], report)
    return paths


def write_benchmark(out: Path, name: str, report: dict, markdown: Callable[[dict], str], plot) -> None:
    """A benchmark's ``<name>.json``, ``<name>.md`` and ``<name>.png`` in ``out`` (``plot(report, path)``); the
    markdown is printed too."""
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / f"{name}.json", report)
    text = markdown(report)
    (out / f"{name}.md").write_text(text, encoding="utf-8")
    plot(report, out / f"{name}.png")
    print(text)
