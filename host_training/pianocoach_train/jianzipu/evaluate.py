"""How well the reader reads: per-part accuracy, whole-character exact match (top-1 and top-5 over whole
readings from the part probabilities), and the most frequent confusions, on each test set: the real validation
pages of 五声琴谱 (the figure that matters) and the renders (the 96-character set, held-out combinations, a
held-out font)."""

from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

from pianocoach.jianzipu.vocab import (
    HEADS,
    MARK_THRESHOLD,
    MARKS,
    MARKS_OUTPUT,
    OUTPUTS,
    OUTSIDE_OUTPUT,
    OUTSIDE_THRESHOLD,
    labels,
    top_readings,
)

PUBLISHED = {"top1": 0.804, "top5": 0.967}  # the reference's large multimodal model on its real test set
REAL_SET = "real_validation_pages"
DEVELOPMENT_SET = "real_development_pages"  # early stopping, and the choice of the shipped variant
TEST_SETS = (REAL_SET, "benchmark_96", "held_out_combinations", "held_out_font")
PARTS = ("form", "finger", "hui", "prefix", "technique", "string", "marks")
GOALS = {"exact_top1": 0.85, "parts": 0.95, "share_within": 0.9}  # issue 21, on the real validation pages


def head_probabilities(
    predict: Callable[[np.ndarray], dict[str, np.ndarray]], images: np.ndarray, batch: int = 256
) -> dict[str, np.ndarray]:
    """Run ``predict`` (float32 (n, 1, SIZE, SIZE) -> probabilities per output) over uint8 images in batches."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in OUTPUTS}
    for start in range(0, len(images), batch):
        x = images[start : start + batch].astype(np.float32)[:, None] / 255.0
        for name, p in predict(x).items():
            parts[name].append(p)
    return {name: np.concatenate(p) for name, p in parts.items()}


def _row_reading(probabilities: dict[str, np.ndarray], i: int):
    return top_readings({name: p[i] for name, p in probabilities.items()}, k=5)


def evaluate_set(probabilities: dict[str, np.ndarray], targets: np.ndarray, texts: list[str]) -> dict:
    """``targets``: dataset.target_rows (head classes, marks, outside) of characters within the vocabulary. A
    character the reader says is outside the vocabulary counts as not read (top-1 and top-5 miss)."""
    heads = list(HEADS)
    classes = targets[:, : len(heads)].astype(int)
    mark_truth = targets[:, len(heads) : len(heads) + len(MARKS)] > 0.5
    said_outside = probabilities[OUTSIDE_OUTPUT][:, 0] >= OUTSIDE_THRESHOLD
    predicted = {name: probabilities[name].argmax(axis=1) for name in heads}
    correct = {name: predicted[name] == classes[:, i] for i, name in enumerate(heads)}
    mark_read = probabilities[MARKS_OUTPUT] >= MARK_THRESHOLD
    parts = {name: float(correct[name].mean()) for name in ("form", "finger", "prefix", "technique", "string")}
    hui_rows = classes[:, heads.index("hui_whole")] != 0  # a character with a hui written
    parts["hui"] = (
        float((correct["hui_whole"] & correct["hui_tenth"])[hui_rows].mean()) if hui_rows.any() else float("nan")
    )
    parts["marks"] = float((mark_read == mark_truth).all(axis=1).mean())
    top1 = top5 = 0
    for i in range(len(texts)):
        truth = tuple(classes[i]), frozenset(np.flatnonzero(mark_truth[i]))
        keys = []
        for candidate in _row_reading(probabilities, i):
            found = labels(candidate.reading)
            keys.append(
                (
                    tuple(found[h] for h in heads),
                    frozenset(j for j, m in enumerate(MARKS) if m in candidate.reading.marks),
                )
            )
        if said_outside[i]:
            continue
        top1 += bool(keys) and keys[0] == truth
        top5 += truth in keys
    confusions = {}
    for i, name in enumerate(heads):
        wrong = Counter((HEADS[name][t], HEADS[name][p]) for t, p in zip(classes[:, i], predicted[name]) if t != p)
        confusions[name] = [{"true": t, "read": p, "count": n} for (t, p), n in wrong.most_common(3)]
    return {
        "n": len(texts),
        "parts": parts,
        "exact_top1": top1 / max(len(texts), 1),
        "exact_top5": top5 / max(len(texts), 1),
        "said_outside": float(said_outside.mean()) if len(texts) else 0.0,
        "confusions": confusions,
    }


def markdown(results: dict[str, dict[str, dict]]) -> str:
    """results[variant][set] -> a table: one row per (variant, set)."""
    lines = [
        "| model | test set | images | " + " | ".join(PARTS) + " | exact top-1 | exact top-5 |",
        "| --- | --- | --- | " + " | ".join("---" for _ in PARTS) + " | --- | --- |",
        f"| published (JZPNet-style system) | its real test set | — | {' | '.join('—' for _ in PARTS)} | "
        f"{PUBLISHED['top1']:.3f} | {PUBLISHED['top5']:.3f} |",
    ]
    for variant, sets in results.items():
        for set_name, r in sets.items():
            parts = " | ".join(f"{r['parts'][n]:.3f}" for n in PARTS)
            lines.append(
                f"| {variant} | {set_name} | {r['n']} | {parts} | {r['exact_top1']:.3f} | {r['exact_top5']:.3f} |"
            )
    return "\n".join(lines)


def plot(results: dict[str, dict[str, dict]], path) -> None:
    """Per-part and exact accuracy on the real validation pages, one bar group per variant."""
    from pianocoach_train.plots import pyplot, save_figure

    names = list(PARTS) + ["exact_top1", "exact_top5"]
    fig, ax = pyplot().subplots(figsize=(10, 3.8))
    variants = [v for v in results if REAL_SET in results[v]]
    width = 0.8 / max(len(variants), 1)
    for j, variant in enumerate(variants):
        r = results[variant][REAL_SET]
        values = [r["parts"].get(n, r.get(n)) for n in names]
        ax.bar(np.arange(len(names)) + j * width, values, width, label=variant)
    ax.axhline(GOALS["exact_top1"], color="grey", linestyle="--", linewidth=1, label="goal: exact top-1 0.85")
    ax.axhline(GOALS["parts"], color="grey", linestyle=":", linewidth=1, label="goal: each part 0.95")
    ax.set_xticks(
        np.arange(len(names)) + width * (len(variants) - 1) / 2, [n.replace("exact_", "exact ") for n in names]
    )
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.set_title("Jianzipu reader on the real validation pages of 五声琴谱 (pages never trained on)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def unsure_shares(within: dict[str, np.ndarray], outside: dict[str, np.ndarray], threshold: float) -> dict:
    """How often the reader declines to read (its ``outside`` output says the character uses a part it has no class
    for, or its best reading falls below ``threshold``, which the device reports as unsure), for characters within
    the vocabulary (a loss) and for those outside it (what it should do)."""

    def shares(probabilities: dict[str, np.ndarray]) -> dict:
        n = len(probabilities[OUTSIDE_OUTPUT])
        said = probabilities[OUTSIDE_OUTPUT][:, 0] >= OUTSIDE_THRESHOLD
        low = np.array(
            [not (best := _row_reading(probabilities, i)) or best[0].probability < threshold for i in range(n)]
        )
        return {
            "n": n,
            "said_outside": float(said.mean()) if n else 0.0,
            "unsure": float((low & ~said).mean()) if n else 0.0,
            "declined": float((said | low).mean()) if n else 0.0,
        }

    return {"threshold": threshold, "within": shares(within), "outside": shares(outside)}
