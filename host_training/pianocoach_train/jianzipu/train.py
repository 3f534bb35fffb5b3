"""Train the image reader (``artifacts/jianzipu/reader``) on real printed crops and rendered characters.

Data: the real crops of 五声琴谱 (``real_crops``; training pages only), and, by variant, renders
(``dataset``: the training fonts, the woodblock finish). Every batch is augmented as printed pages vary
(:func:`augment`: affine jitter and aspect, stroke width, blur, contrast, thresholding, carving wear, noise).
Early stopping watches the development pages' loss (two pages of their own), so the validation pages the README
reports are used for nothing else. Cross-entropy summed over the heads plus the marks' and the outside output's
binary cross-entropy, Adam, the best epoch kept; then a second stage from it at a tenth of the rate.

Variants (``make eval-jianzipu`` compares them; the bundle takes ``SHIPPED_VARIANT``):
- ``real``: real crops only;
- ``mixed``: every batch half real crops, half renders;
- ``renders``: renders only (what the reader was before issue 21);
- ``composites``: every batch a third real crops, a third composites (the left hand of one training crop over the
  right hand of another: combinations the pages lack, in the woodblock's hand), a third renders;
- ``woodblock``: woodblock renders only (``woodblock``: drawn to the layouts and finish measured on the training
  pages), what the renderer alone teaches;
- ``composites-woodblock``: a third real crops, a third composites, a third woodblock renders;
- ``blend``: a quarter each of real crops, composites, woodblock renders and font renders.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from pianocoach.jianzipu.image import SIZE
from pianocoach.jianzipu.vocab import Reading
from pianocoach.jsonio import write_json_atomic
from pianocoach_train.checkpoints import load_checkpoint, save_checkpoint
from pianocoach_train.feature_store import cache_dir
from pianocoach_train.jianzipu import real_crops
from pianocoach_train.jianzipu.composites import composites
from pianocoach_train.jianzipu.dataset import ImageSet, Sizes, build, target_rows
from pianocoach_train.jianzipu.layouts import learn as learn_layouts
from pianocoach_train.jianzipu.model import JianzipuNet, heads_loss
from pianocoach_train.jianzipu.render import HELD_OUT_FONT, TRAIN_FONTS
from pianocoach_train.jianzipu.woodblock import woodblock_images
from pianocoach_train.runs import artifacts_dir, finished_run
from pianocoach_train.train_config import TrainConfig
from pianocoach_train.training import train_torch

log = logging.getLogger(__name__)

CONFIG = TrainConfig(model="jianzipu_reader", epochs=60, batch_size=64, lr=2e-3, weight_decay=1e-4, patience=10, seed=0)
VARIANTS = ("real", "mixed", "renders", "composites", "woodblock", "composites-woodblock", "blend")
FONT_RENDERS = ("mixed", "renders", "composites", "blend")  # the variants trained on font renders (dataset.build)
WOODBLOCK_RENDERS = ("woodblock", "composites-woodblock", "blend")
WITH_COMPOSITES = ("composites", "composites-woodblock", "blend")
WOODBLOCK = 12000  # woodblock renders in the variants that use them
WOODBLOCK_VERSION = 1  # bump when the woodblock renderer or its layouts change: it keys their cache
COMPOSITES = 6000  # the composites variant's real-part composites (pianocoach_train.jianzipu.composites)
SHIPPED_VARIANT = "composites-woodblock"
# the bundle's reader averages the probabilities of these variants: the two best on the development pages (exact
# 0.843 and hui 0.871 there, against 0.830 and 0.864 for the best alone)
ENSEMBLE = ("composites-woodblock", "composites")
DEVELOPMENT_PAGES = (8, 18)  # early stopping only
EPOCH_SAMPLES = 4000  # images per epoch (real crops are drawn again, differently augmented)
PREPARE_VERSION = 2  # bump when pianocoach.jianzipu.image.prepare changes: it keys the real crops' cache
READER_SIZES = Sizes(train=12000, validation=600, benchmark_renders=5, held_out_combinations=600, held_out_font=600)


def reader_dir(variant: str = SHIPPED_VARIANT) -> Path:
    base = artifacts_dir() / "jianzipu"
    return base / "reader" if variant == SHIPPED_VARIANT else base / f"reader-{variant}"


def load_reader(run_dir: Path | None = None) -> JianzipuNet:
    state = load_checkpoint((run_dir or reader_dir()) / "model.pt")
    net = JianzipuNet(tuple(state["widths"]))
    net.load_state_dict(state["model"])
    net.eval()
    return net


def held_out_pages() -> set[int]:
    """The pages nothing trains on: validation and development."""
    return set(real_crops.VALIDATION_PAGES) | set(DEVELOPMENT_PAGES)


def real_data_key(root: Path | None = None) -> str:
    """A hash of the labels file: a new labelling is a new run."""
    labels = real_crops.guqin_root(root) / "wushen_pages_3_25" / "labels.txt"
    return hashlib.sha256(labels.read_bytes()).hexdigest()[:12]


def fine_tune_config(config: TrainConfig) -> TrainConfig:
    """The second stage: a third of the epochs at a tenth of the rate, half the patience."""
    return replace(config, lr=config.lr / 10, epochs=max(1, config.epochs // 3), patience=max(1, config.patience // 2))


def reader_record(
    variant: str = SHIPPED_VARIANT, sizes: Sizes = READER_SIZES, config: TrainConfig = CONFIG, root: Path | None = None
) -> dict:
    """What a reader run records about its config and data; a finished run with the same record is reused."""
    return {
        "variant": variant,
        "config": config.to_dict(),
        "fine_tune": fine_tune_config(config).to_dict(),
        "sizes": asdict(sizes) if variant in FONT_RENDERS else None,
        "composites": COMPOSITES if variant in WITH_COMPOSITES else None,
        "image_size": SIZE,
        "train_fonts": [f.name for f in TRAIN_FONTS],
        "held_out_font": HELD_OUT_FONT.name,
        "real_labels": real_data_key(root) if variant != "renders" else None,
        "validation_pages": list(real_crops.VALIDATION_PAGES),
        "development_pages": list(DEVELOPMENT_PAGES),
        # only where used, so that adding the woodblock renders left the other variants' finished runs valid
        **({"woodblock": {"count": WOODBLOCK, "version": WOODBLOCK_VERSION}} if variant in WOODBLOCK_RENDERS else {}),
    }


def real_sets(root: Path | None = None, progress: bool = True) -> dict[str, ImageSet]:
    """The real crops within the vocabulary, prepared, by page: train, development, validation (cached); and
    ``validation_outside``: the validation pages' crops outside the vocabulary. The training set holds its pages'
    characters outside the vocabulary too (they teach the ``outside`` output; their parts are not scored)."""
    path = cache_dir().parent / "jianzipu" / f"real-{real_data_key(root)}-{SIZE}-v{PREPARE_VERSION}.npz"
    every = real_crops.load_crops(root)
    if path.is_file():
        prepared = np.load(path)["images"]
    else:  # every labelled crop, in label-file order (which of them the vocabulary takes may change)
        log.info("preparing %d real crops", len(every))
        prepared = real_crops.load_images(every)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, images=prepared)
        tmp.replace(path)
    held = {"validation": set(real_crops.VALIDATION_PAGES), "development": set(DEVELOPMENT_PAGES)}
    rows: dict[str, list[int]] = {"validation": [], "development": [], "train": [], "validation_outside": []}
    for index, crop in enumerate(every):
        name = next((n for n, pages in held.items() if crop.page in pages), "train")
        if crop.reading is not None or name == "train":  # the training pages' outside characters teach "outside"
            rows[name].append(index)
        elif name == "validation":  # outside the vocabulary: the reader should say so
            rows["validation_outside"].append(index)
    chosen = {name: [every[i] for i in indices] for name, indices in rows.items()}
    images = {name: prepared[indices] for name, indices in rows.items()}
    return {
        name: ImageSet(
            images[name],
            target_rows([c.reading for c in found]),
            [c.label for c in found],
            [c.path.name for c in found],
        )
        for name, found in chosen.items()
    }


def woodblock_set(training_crops: list, root: Path | None, seed: int, progress: bool = True) -> ImageSet:
    """WOODBLOCK woodblock renders drawn to the layouts of ``training_crops`` (cached by labels, version, seed)."""
    path = (
        cache_dir().parent
        / "jianzipu"
        / f"woodblock-{real_data_key(root)}-{SIZE}-{WOODBLOCK}-{seed}-v{WOODBLOCK_VERSION}.npz"
    )
    if path.is_file():
        data = np.load(path)
        rows = [json.loads(str(r)) for r in data["readings"]]
        readings = [Reading(**{**row, "marks": frozenset(row["marks"])}) for row in rows]
        return ImageSet(data["images"], target_rows(readings), [r.text for r in readings])
    images, readings = woodblock_images(learn_layouts(training_crops), WOODBLOCK, seed, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    rows = [json.dumps({**asdict(r), "marks": sorted(r.marks)}, ensure_ascii=False) for r in readings]
    np.savez_compressed(tmp, images=images, readings=np.array(rows))
    tmp.replace(path)
    return ImageSet(images, target_rows(readings), [r.text for r in readings])


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A batch (n, 1, SIZE, SIZE), ink 1 on 0, varied as printed pages and photographs vary: rotation, scale and
    aspect, shear, shift (crop jitter); thicker or thinner strokes (ink spread, worn carving); blur (scan); contrast
    and thresholding (a binarised scan); holes in the ink (wear); noise (paper grain)."""
    n = x.shape[0]

    def uniform(low: float, high: float, size: int = n) -> torch.Tensor:
        return low + (high - low) * torch.rand(size, generator=generator)

    angle = uniform(-math.radians(5), math.radians(5))
    sx, sy = uniform(0.85, 1.12), uniform(0.85, 1.12)
    shear = uniform(-0.1, 0.1)
    tx, ty = uniform(-0.08, 0.08), uniform(-0.08, 0.08)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos / sx, (-sin + shear) / sx, tx], 1), torch.stack([sin / sy, cos / sy, ty], 1)], 1
    )
    grid = functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = functional.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    stroke = uniform(0, 1)[:, None, None, None]
    thicker = functional.max_pool2d(x, 3, 1, 1)
    thinner = -functional.max_pool2d(-x, 3, 1, 1)
    x = torch.where(stroke < 0.25, thicker, torch.where(stroke > 0.8, thinner, x))
    blurred = functional.avg_pool2d(x, 3, 1, 1)
    x = torch.where(uniform(0, 1)[:, None, None, None] < 0.4, blurred, x)
    wear = functional.interpolate(torch.rand(n, 1, 24, 24, generator=generator), size=x.shape[-2:], mode="bilinear")
    x = x * torch.where(uniform(0, 1)[:, None, None, None] < 0.3, (wear > 0.15).float(), torch.ones_like(x))
    x = x * uniform(0.6, 1.0)[:, None, None, None]
    threshold = uniform(0.2, 0.5)[:, None, None, None]
    x = torch.where(uniform(0, 1)[:, None, None, None] < 0.2, (x > threshold).float(), x)
    x = x + torch.randn(x.shape, generator=generator) * uniform(0, 0.08)[:, None, None, None]
    return x.clamp(0, 1)


def train_reader(
    variant: str = SHIPPED_VARIANT,
    sizes: Sizes = READER_SIZES,
    config: TrainConfig = CONFIG,
    run_dir: Path | None = None,
    progress: bool = True,
    root: Path | None = None,
) -> Path:
    """Train (or reuse a finished run with the same config and data) and return the run folder."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown reader variant {variant!r} (known: {', '.join(VARIANTS)})")
    run_dir = run_dir or reader_dir(variant)
    record = reader_record(variant, sizes, config, root)
    if finished_run(run_dir, record):
        log.info("%s already trained; reusing it", run_dir)
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    real = real_sets(root, progress)
    sources = []
    if variant in ("real", "mixed"):
        sources.append(real["train"].tensors())
    training_crops = [c for c in real_crops.load_crops(root) if c.page not in held_out_pages()]
    if variant in WITH_COMPOSITES:
        sources.append(real["train"].tensors())
        images, readings = composites(training_crops, COMPOSITES, seed=config.seed)
        made = ImageSet(images, target_rows(readings), [r.text for r in readings])
        sources.append(made.tensors())
    if variant in FONT_RENDERS:
        sources.append(build(sizes, progress=progress)["train"].tensors())
    if variant in WOODBLOCK_RENDERS:
        sources.append(woodblock_set(training_crops, root, config.seed, progress).tensors())
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    net = JianzipuNet()
    per_source = config.batch_size // len(sources)

    def batches(rng: np.random.Generator):
        for _ in range(EPOCH_SAMPLES // config.batch_size):
            parts = [(x[i], y[i]) for x, y in sources for i in [torch.from_numpy(rng.integers(0, len(x), per_source))]]
            x = torch.cat([p[0] for p in parts])
            yield (augment(x, generator),), torch.cat([p[1] for p in parts])

    xd, yd = real["development"].tensors()
    development = [((xd[i : i + 256],), yd[i : i + 256]) for i in range(0, len(xd), 256)]
    loss_name = "cross-entropy, summed over heads"
    history = train_torch(net, batches, lambda: development, config, run_dir, progress, heads_loss, loss_name)
    # a second stage from the best weights at a tenth of the rate (the development loss had plateaued, noisy)
    fine = fine_tune_config(config)
    (run_dir / "fine").mkdir(exist_ok=True)
    fine_history = train_torch(
        net, batches, lambda: development, fine, run_dir / "fine", progress, heads_loss, loss_name
    )
    history = {**history, "fine_tune": {k: fine_history[k] for k in ("best_epoch", "best_val_loss", "stopped_early")}}
    save_checkpoint({"model": net.state_dict(), "widths": list(net.widths), **record}, run_dir / "model.pt")
    write_json_atomic(
        run_dir / "run.json",
        {
            **record,
            "history": {k: history[k] for k in ("best_epoch", "best_val_loss", "stopped_early", "fine_tune")},
            "finished": True,
        },
    )
    log.info("trained %s: %s", variant, json.dumps({k: history[k] for k in ("best_epoch", "best_val_loss")}))
    return run_dir
