"""Train the image reader on rendered characters (``artifacts/jianzipu/reader``): cross-entropy summed
over the heads, Adam, early stopping on the validation renders, the best epoch kept."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from pianocoach.jianzipu.image import SIZE
from pianocoach.jsonio import read_json, write_json_atomic
from pianocoach_train.config import TrainConfig
from pianocoach_train.jianzipu.dataset import (
    HELD_OUT_FINGER_TECHNIQUE, HELD_OUT_HUI_STRING, HELD_OUT_OPEN, ImageSet, Sizes, build,
)
from pianocoach_train.jianzipu.model import JianzipuNet, heads_loss
from pianocoach_train.jianzipu.render import HELD_OUT_FONT, TRAIN_FONTS
from pianocoach_train.runs import artifacts_dir
from pianocoach_train.training import train_torch

log = logging.getLogger(__name__)

CONFIG = TrainConfig(model="jianzipu_reader", epochs=40, batch_size=128, lr=2e-3, weight_decay=1e-4, patience=5, seed=0)


def reader_dir() -> Path:
    return artifacts_dir() / "jianzipu" / "reader"


def load_reader(run_dir: Path | None = None) -> JianzipuNet:
    state = torch.load((run_dir or reader_dir()) / "model.pt", weights_only=False)
    net = JianzipuNet(tuple(state["widths"]))
    net.load_state_dict(state["model"])
    net.eval()
    return net


def train_reader(sizes: Sizes = Sizes(), config: TrainConfig = CONFIG, run_dir: Path | None = None,
                 progress: bool = True, sets: dict[str, ImageSet] | None = None) -> Path:
    """Train (or reuse a finished run with the same config and data) and return the run folder."""
    run_dir = run_dir or reader_dir()
    record = {"config": config.to_dict(), "sizes": asdict(sizes), "image_size": SIZE, "train_fonts": [f.name for f in TRAIN_FONTS],
              "held_out_font": HELD_OUT_FONT.name,
              "held_out_pairs": {"finger_technique": sorted(map(list, HELD_OUT_FINGER_TECHNIQUE)),
                                 "hui_string": sorted(map(list, HELD_OUT_HUI_STRING)),
                                 "open_technique_string": sorted(map(list, HELD_OUT_OPEN))}}
    meta_path = run_dir / "run.json"
    if meta_path.is_file():
        meta = read_json(meta_path)
        if meta.get("finished") and all(meta.get(k) == v for k, v in record.items()):
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
    history = train_torch(net, batches, lambda: validation, config, run_dir, progress, heads_loss, "cross-entropy, summed over heads")
    torch.save({"model": net.state_dict(), "widths": list(net.widths), **record}, run_dir / "model.pt")
    write_json_atomic(meta_path, {**record, "history": {k: history[k] for k in ("best_epoch", "best_val_loss", "stopped_early")},
                                  "finished": True})
    return run_dir
