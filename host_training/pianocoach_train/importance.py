"""Which features matter: permutation importance for vector models, gradient saliency over notes for
sequence models. Both are drawn as plots for the evaluation report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.metrics import r2_mean
from pianocoach_train.models.base import Scorer
from pianocoach_train.plots import pyplot, save_figure


def permutation_importance(
    scorer: Scorer, store: FeatureStore, ids, repeats: int = 3, seed: int = 0
) -> dict[str, float]:
    """Drop in test R² when one feature column is shuffled (mean over ``repeats`` shuffles)."""
    x, y = store.vectors_for(ids), store.labels(ids)
    base = r2_mean(y, scorer.predict_vectors(x))
    rng = np.random.default_rng(seed)
    drops = {}
    for j, name in enumerate(store.settings.vector_names):
        scores = []
        for _ in range(repeats):
            shuffled = x.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            scores.append(r2_mean(y, scorer.predict_vectors(shuffled)))
        drops[name] = float(base - np.mean(scores))
    return dict(sorted(drops.items(), key=lambda kv: -kv[1]))


def plot_importance(drops: dict[str, float], path: Path, title: str, top: int = 20) -> None:
    plt = pyplot()
    names, values = list(drops)[:top][::-1], list(drops.values())[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(names) + 1.2))
    ax.barh(names, values, color="tab:blue")
    ax.set_xlabel("drop in test R² when shuffled")
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def note_saliency(scorer: Scorer, store: FeatureStore, ident: str) -> np.ndarray:
    """|d(mean predicted score)/d(note features)| summed over features: one value per note."""
    from pianocoach.features import note_sequence

    sequence = torch.from_numpy(note_sequence(store.tables[ident])).unsqueeze(0).requires_grad_(True)
    mask = torch.ones(sequence.shape[:2])
    scorer.net.eval()
    scorer.net(sequence, mask).mean().backward()
    return sequence.grad.abs().sum(-1).squeeze(0).numpy()


def plot_saliency(scorer: Scorer, store: FeatureStore, ids: list[str], path: Path) -> None:
    """Piano rolls of a few performances, each note coloured by how much it moved the prediction."""
    plt = pyplot()
    fig, axes = plt.subplots(len(ids), 1, figsize=(10, 2.6 * len(ids)), squeeze=False)
    for ax, ident in zip(axes[:, 0], ids):
        table = store.tables[ident]
        saliency = note_saliency(scorer, store, ident)
        points = ax.scatter(table.onset, table.pitch, c=saliency, s=10 + 40 * saliency / saliency.max(), cmap="viridis")
        ax.set_title(ident, fontsize=9)
        ax.set_ylabel("pitch")
        fig.colorbar(points, ax=ax, label="saliency")
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"{scorer.name}: gradient saliency over notes")
    fig.tight_layout()
    save_figure(fig, path)
