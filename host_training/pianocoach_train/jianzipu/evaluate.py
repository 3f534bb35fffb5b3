"""How well the reader reads: per-part accuracy, whole-character exact match (top-1 and top-5 over
whole characters from the part probabilities), and the most frequent confusions, on each test set."""

from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

from pianocoach.jianzipu import parse
from pianocoach.jianzipu.vocab import HEADS, top_characters

PUBLISHED = {"top1": 0.804, "top5": 0.967}  # the reference's large multimodal model on its 96-character set
TEST_SETS = ("benchmark_96", "held_out_combinations", "held_out_font")


def head_probabilities(
    predict: Callable[[np.ndarray], dict[str, np.ndarray]], images: np.ndarray, batch: int = 256
) -> dict[str, np.ndarray]:
    """Run ``predict`` (float32 (n, 1, SIZE, SIZE) -> per-head probabilities) over uint8 images in batches."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in HEADS}
    for start in range(0, len(images), batch):
        x = images[start : start + batch].astype(np.float32)[:, None] / 255.0
        for name, p in predict(x).items():
            parts[name].append(p)
    return {name: np.concatenate(p) for name, p in parts.items()}


def evaluate_set(probabilities: dict[str, np.ndarray], targets: np.ndarray, texts: list[str]) -> dict:
    predicted = {name: p.argmax(axis=1) for name, p in probabilities.items()}
    correct = {name: predicted[name] == targets[:, i] for i, name in enumerate(HEADS)}
    parts = {name: float(c.mean()) for name, c in correct.items() if name not in ("hui_whole", "hui_tenth")}
    hui_rows = targets[:, list(HEADS).index("form")] != 1  # open strings have no hui
    parts["hui"] = (
        float((correct["hui_whole"] & correct["hui_tenth"])[hui_rows].mean()) if hui_rows.any() else float("nan")
    )
    top1 = top5 = 0
    for i, text in enumerate(texts):
        truth = parse(text)
        truth_key = (truth.form, truth.finger, truth.hui, truth.technique, truth.string)
        candidates = top_characters({name: p[i] for name, p in probabilities.items()}, k=5)
        keys = [
            (c.character.form, c.character.finger, c.character.hui, c.character.technique, c.character.string)
            for c in candidates
        ]
        top1 += bool(keys) and keys[0] == truth_key
        top5 += truth_key in keys
    confusions = {}
    for i, name in enumerate(HEADS):
        wrong = Counter((HEADS[name][t], HEADS[name][p]) for t, p in zip(targets[:, i], predicted[name]) if t != p)
        confusions[name] = [{"true": t, "read": p, "count": n} for (t, p), n in wrong.most_common(3)]
    return {
        "n": len(texts),
        "parts": parts,
        "exact_top1": top1 / len(texts),
        "exact_top5": top5 / len(texts),
        "confusions": confusions,
    }


def markdown(results: dict[str, dict[str, dict]]) -> str:
    """results[variant][set] -> a table: one row per (variant, set)."""
    names = ["form", "finger", "hui", "technique", "string"]
    lines = [
        "| model | test set | images | " + " | ".join(names) + " | exact top-1 | exact top-5 |",
        "| --- | --- | --- | " + " | ".join("---" for _ in names) + " | --- | --- |",
        f"| published (LMM) | its 96 characters | — | {' | '.join('—' for _ in names)} | {PUBLISHED['top1']:.3f} | "
        f"{PUBLISHED['top5']:.3f} |",
    ]
    for variant, sets in results.items():
        for set_name, r in sets.items():
            parts = " | ".join(f"{r['parts'][n]:.3f}" for n in names)
            lines.append(
                f"| {variant} | {set_name} | {r['n']} | {parts} | {r['exact_top1']:.3f} | {r['exact_top5']:.3f} |"
            )
    return "\n".join(lines)


def plot(results: dict[str, dict[str, dict]], path) -> None:
    from pianocoach_train.plots import pyplot, save_figure

    variant = next(iter(results))
    sets = results[variant]
    names = ["form", "finger", "hui", "technique", "string", "exact_top1", "exact_top5"]
    fig, ax = pyplot().subplots(figsize=(9, 3.8))
    width = 0.8 / len(sets)
    for j, (set_name, r) in enumerate(sets.items()):
        values = [r["parts"].get(n, r.get(n)) for n in names]
        ax.bar(np.arange(len(names)) + j * width, values, width, label=set_name.replace("_", " "))
    ax.axhline(PUBLISHED["top1"], color="grey", linestyle="--", linewidth=1, label="published top-1 (0.804)")
    ax.set_xticks(np.arange(len(names)) + width * (len(sets) - 1) / 2, [n.replace("exact_", "exact ") for n in names])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Jianzipu image reader ({variant}): per-part accuracy and whole-character match")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
