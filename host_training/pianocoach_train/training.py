"""The torch training loop: MSE, Adam, mini-batches, early stopping with the best checkpoint kept.

A run folder holds ``last.pt`` (model, optimiser, history, random state) after every epoch, so an
interrupted run resumes where it stopped; ``curves.png`` and ``history.json`` are written at the end.
"""

from __future__ import annotations

import copy
import logging
import random
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from tqdm import tqdm

from pianocoach.jsonio import write_json_atomic
from pianocoach_train.checkpoints import load_checkpoint, save_checkpoint
from pianocoach_train.plots import pyplot, save_figure
from pianocoach_train.train_config import TrainConfig

log = logging.getLogger(__name__)

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]  # (model inputs, targets)


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def train_torch(
    net: torch.nn.Module,
    batches: Callable[[np.random.Generator], Iterable[Batch]],
    validation: Callable[[], Iterable[Batch]],
    config: TrainConfig,
    run_dir: Path,
    progress: bool = True,
    loss_fn: Callable = torch.nn.functional.mse_loss,
    loss_name: str = "MSE",
) -> dict:
    """Train ``net`` in place; on return it holds the weights of the best validation epoch.
    ``loss_fn(output, target)`` is a mean over the batch (MSE for the scorers)."""
    rng = seed_everything(config.seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: dict = {
        "train_loss": [],
        "val_loss": [],
        "best_epoch": -1,
        "best_val_loss": float("inf"),
        "stopped_early": False,
    }
    best_state = copy.deepcopy(net.state_dict())
    start_epoch = 0
    last_path = run_dir / "last.pt"
    if last_path.is_file():
        state = load_checkpoint(last_path)
        if state["config"] == config.to_dict():
            net.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            history, best_state, start_epoch = state["history"], state["best_state"], state["epoch"] + 1
            rng.bit_generator.state = state["rng"]
            torch.set_rng_state(state["torch_rng"])
            log.info("resuming %s at epoch %d", run_dir, start_epoch)
        else:
            log.warning("%s: config changed; starting afresh", last_path)

    epochs = tqdm(
        range(start_epoch, config.epochs),
        desc=f"training {config.model}",
        unit="epoch",
        disable=not progress,
        initial=start_epoch,
        total=config.epochs,
    )
    for epoch in epochs:
        if epoch - history["best_epoch"] > config.patience and history["best_epoch"] >= 0:
            history["stopped_early"] = True
            break
        net.train()
        losses = []
        for inputs, target in batches(rng):
            optimiser.zero_grad()
            loss = loss_fn(net(*inputs), target)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        val_loss = evaluate_loss(net, validation(), loss_fn)
        history["train_loss"].append(float(np.mean(losses)))
        history["val_loss"].append(val_loss)
        if val_loss < history["best_val_loss"]:
            history["best_val_loss"], history["best_epoch"] = val_loss, epoch
            best_state = copy.deepcopy(net.state_dict())
        epochs.set_postfix(train=f"{history['train_loss'][-1]:.4f}", val=f"{val_loss:.4f}", best=history["best_epoch"])
        save_checkpoint(
            {
                "config": config.to_dict(),
                "model": net.state_dict(),
                "optimiser": optimiser.state_dict(),
                "history": history,
                "best_state": best_state,
                "epoch": epoch,
                "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
            },
            last_path,
        )
    net.load_state_dict(best_state)
    net.eval()
    write_json_atomic(run_dir / "history.json", history)
    plot_curves(history, run_dir / "curves.png", title=f"{config.model}: training curves", loss_name=loss_name)
    return history


def evaluate_loss(
    net: torch.nn.Module, batches: Iterable[Batch], loss_fn: Callable = torch.nn.functional.mse_loss
) -> float:
    """Mean loss per example over the batches."""
    net.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, target in batches:
            total += loss_fn(net(*inputs), target).item() * target.shape[0]
            count += target.shape[0]
    return total / max(count, 1)


def plot_curves(history: dict, path: Path, title: str, loss_name: str = "MSE") -> None:
    fig, ax = pyplot().subplots(figsize=(6, 3.5))
    ax.plot(history["train_loss"], label="train")
    ax.plot(history["val_loss"], label="validation")
    if history["best_epoch"] >= 0:
        ax.axvline(history["best_epoch"], color="grey", linestyle="--", label=f"best (epoch {history['best_epoch']})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_name)
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
