"""Train the image reader on rendered characters (``artifacts/jianzipu/reader``): cross-entropy summed
over the heads, Adam, early stopping on the validation renders, the best epoch kept."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from pianocoach.jianzipu.image import SIZE
from pianocoach.jsonio import write_json_atomic
from pianocoach_train.checkpoints import load_checkpoint, save_checkpoint
from pianocoach_train.jianzipu.dataset import (
    HELD_OUT_FINGER_TECHNIQUE,
    HELD_OUT_HUI_STRING,
    HELD_OUT_OPEN,
    ImageSet,
    Sizes,
    build,
)
from pianocoach_train.jianzipu.model import JianzipuNet, heads_loss
from pianocoach_train.jianzipu.render import HELD_OUT_FONT, TRAIN_FONTS
from pianocoach_train.runs import artifacts_dir, finished_run
from pianocoach_train.train_config import TrainConfig
from pianocoach_train.training import train_torch

log = logging.getLogger(__name__)

CONFIG = TrainConfig(model="jianzipu_reader", epochs=40, batch_size=128, lr=2e-3, weight_decay=1e-4, patience=5, seed=0)


def reader_dir() -> Path:
    return artifacts_dir() / "jianzipu" / "reader"


def load_reader(run_dir: Path | None = None) -> JianzipuNet:
    state = load_checkpoint((run_dir or reader_dir()) / "model.pt")
    net = JianzipuNet(tuple(state["widths"]))
    net.load_state_dict(state["model"])
    net.eval()
    return net


def reader_record(sizes: Sizes = Sizes(), config: TrainConfig = CONFIG) -> dict:
    """What a reader run records about its config and data; a finished run with the same record is reused."""
    return {
        "config": config.to_dict(),
        "sizes": asdict(sizes),
        "image_size": SIZE,
        "train_fonts": [f.name for f in TRAIN_FONTS],
        "held_out_font": HELD_OUT_FONT.name,
        "held_out_pairs": {
            "finger_technique": sorted(map(list, HELD_OUT_FINGER_TECHNIQUE)),
            "hui_string": sorted(map(list, HELD_OUT_HUI_STRING)),
            "open_technique_string": sorted(map(list, HELD_OUT_OPEN)),
        },
    }


def train_reader(
    sizes: Sizes = Sizes(),
    config: TrainConfig = CONFIG,
    run_dir: Path | None = None,
    progress: bool = True,
    sets: dict[str, ImageSet] | None = None,
) -> Path:
    """Train (or reuse a finished run with the same config and data) and return the run folder."""
    run_dir = run_dir or reader_dir()
    record = reader_record(sizes, config)
    meta_path = run_dir / "run.json"
    if finished_run(run_dir, record):
        log.info("%s already trained; reusing it", run_dir)
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    sets = sets or build(sizes, progress=progress)
    x, y = sets["train"].tensors()
    xv, yv = sets["validation"].tensors()
    torch.manual_seed(config.seed)
    net = JianzipuNet()

    def batches(rng: np.random.Generator):
        order = torch.from_numpy(rng.permutation(len(x)))
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            yield (x[idx],), y[idx]

    validation = [((xv[i : i + 512],), yv[i : i + 512]) for i in range(0, len(xv), 512)]
    history = train_torch(
        net, batches, lambda: validation, config, run_dir, progress, heads_loss, "cross-entropy, summed over heads"
    )
    save_checkpoint({"model": net.state_dict(), "widths": list(net.widths), **record}, run_dir / "model.pt")
    write_json_atomic(
        meta_path,
        {
            **record,
            "history": {k: history[k] for k in ("best_epoch", "best_val_loss", "stopped_early")},
            "finished": True,
        },
    )
    return run_dir
