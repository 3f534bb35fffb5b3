"""Training and test sets for the image reader, rendered and cached.

- train / validation: random valid characters in the training fonts, except the held-out combinations;
- test "benchmark_96": the 96-character set (knowledge data) in the training fonts, new renders;
- test "held_out_combinations": characters whose finger-technique or hui-string pair never occurs in training;
- test "held_out_font": random trainable characters drawn in a font never used in training.

The held-out pairs avoid the 96-character set, so that set stays a seen-combination test.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from pianocoach.jianzipu import Character, load_knowledge, parse
from pianocoach.jianzipu.image import SIZE, prepare
from pianocoach.jianzipu.parser import hui_text
from pianocoach.jianzipu.vocab import HEADS, MARKS, Reading, labels, mark_targets, reading_of
from pianocoach_train.feature_store import cache_dir
from pianocoach_train.jianzipu.render import HELD_OUT_FONT, TRAIN_FONTS, render

log = logging.getLogger(__name__)

RENDER_VERSION = 4  # bump when the renderer or the preparation changes: it keys the cache
HELD_OUT_FINGER_TECHNIQUE = {("名", "打"), ("食", "摘"), ("大", "托"), ("中", "擘")}
HELD_OUT_HUI_STRING = {(3, 2), (11, 6), (5, 1)}
HELD_OUT_OPEN = {("打", 7), ("勾", 2)}
TEST_SEED_OFFSET = 1_000_000  # test renders never reuse a training seed
# what the renderer draws: the basic grammar's strokes, and the fingers whose glyphs every font has (not 跪)
TECHNIQUES = ("擘", "托", "抹", "挑", "勾", "剔", "打", "摘")
FINGERS = ("大", "食", "中", "名")


def is_held_out(c: Character) -> bool:
    if c.form == "open":
        return (c.technique, c.string) in HELD_OUT_OPEN
    return (c.finger, c.technique) in HELD_OUT_FINGER_TECHNIQUE or (int(c.hui), c.string) in HELD_OUT_HUI_STRING


def random_character(rng: np.random.Generator) -> Character:
    form = rng.choice(["stopped", "open", "harmonic"], p=[0.7, 0.15, 0.15])
    technique = str(rng.choice(TECHNIQUES))
    string = int(rng.integers(1, 8))
    if form == "open":
        return Character("open", None, None, None, technique, string)
    finger = str(rng.choice(FINGERS))
    whole = int(rng.integers(1, 14))
    tenth = 0 if form == "harmonic" or rng.random() < 0.5 else int(rng.integers(1, 10))
    hui = whole + tenth / 10
    written = hui_text(hui)
    if tenth == 5 and rng.random() < 0.3:  # x.5 is mostly written 半, sometimes 五
        written = hui_text(float(whole)) + "五"
    return Character(str(form), finger, hui, written, technique, string)


def benchmark_96() -> list[Character]:
    spec = load_knowledge().benchmark_96
    return [
        parse(f"{f}{h}{t}{s}")
        for f in spec["fingers"]
        for h in spec["hui"]
        for t in spec["techniques"]
        for s in spec["strings"]
    ]


@dataclass(frozen=True)
class Sizes:
    train: int = 32000
    validation: int = 1600
    benchmark_renders: int = 5  # renders of each of the 96 characters
    held_out_combinations: int = 1000
    held_out_font: int = 1000


def _sample(rng: np.random.Generator, n: int, held_out: bool) -> list[Character]:
    chosen = []
    while len(chosen) < n:
        c = random_character(rng)
        if is_held_out(c) == held_out:
            chosen.append(c)
    return chosen


def plan(sizes: Sizes = Sizes(), seed: int = 0) -> dict[str, list[tuple[str, int, int]]]:
    """Per set: (written character, font index (-1 = held-out font), render seed) triples."""
    rng = np.random.default_rng(seed)
    n_fonts = len(TRAIN_FONTS)
    sets = {}
    train = _sample(rng, sizes.train + sizes.validation, held_out=False)
    sets["train"] = [(c.text, i % n_fonts, i) for i, c in enumerate(train[: sizes.train])]
    sets["validation"] = [(c.text, i % n_fonts, i) for i, c in enumerate(train[sizes.train :], start=sizes.train)]
    offset = TEST_SEED_OFFSET
    sets["benchmark_96"] = [
        (c.text, (i + r) % n_fonts, offset + 96 * r + i)
        for r in range(sizes.benchmark_renders)
        for i, c in enumerate(benchmark_96())
    ]
    offset += 100_000
    sets["held_out_combinations"] = [
        (c.text, i % n_fonts, offset + i)
        for i, c in enumerate(_sample(rng, sizes.held_out_combinations, held_out=True))
    ]
    offset += 100_000
    sets["held_out_font"] = [
        (c.text, -1, offset + i) for i, c in enumerate(_sample(rng, sizes.held_out_font, held_out=False))
    ]
    return sets


def _render_job(job: tuple[str, int, int]) -> np.ndarray:
    text, font, seed = job
    spec = HELD_OUT_FONT if font < 0 else TRAIN_FONTS[font]
    return (prepare(render(parse(text), spec, seed))[0, 0] * 255).astype(np.uint8)


def target_rows(readings: list[Reading | None]) -> np.ndarray:
    """float32 (n, heads + marks + 1): each head's class index (vocab.HEADS order), each mark's 0/1, then 1 for a
    character outside the vocabulary (None: its head classes are -1 and its marks 0, neither scored)."""
    width = len(HEADS) + len(MARKS) + 1
    rows = np.zeros((len(readings), width), dtype=np.float32)
    for i, reading in enumerate(readings):
        if reading is None:
            rows[i, : len(HEADS)] = -1
            rows[i, -1] = 1
        else:
            rows[i, : len(HEADS)] = [labels(reading)[h] for h in HEADS]
            rows[i, len(HEADS) : -1] = mark_targets(reading)
    return rows


def _targets(jobs: list[tuple[str, int, int]]) -> np.ndarray:
    return target_rows([reading_of(parse(text)) for text, _, _ in jobs])


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 (n, SIZE, SIZE), ink = 255
    targets: np.ndarray  # float32 (n, heads + marks + 1): target_rows
    texts: list[str]
    names: list[str] | None = None  # the image files, for real crops

    def tensors(self):
        import torch

        return torch.from_numpy(self.images.astype(np.float32)[:, None] / 255.0), torch.from_numpy(self.targets)


def build(
    sizes: Sizes = Sizes(), seed: int = 0, workers: int = min(2, os.cpu_count() or 1), progress: bool = True
) -> dict[str, ImageSet]:
    """Render every set (or load it from the cache in ``.cache/jianzipu``)."""
    sets = plan(sizes, seed)
    key = hashlib.sha256(
        json.dumps(
            [RENDER_VERSION, SIZE, asdict(sizes), seed, [f.name for f in TRAIN_FONTS], HELD_OUT_FONT.name],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:12]
    path = cache_dir().parent / "jianzipu" / f"images-{key}.npz"
    if path.is_file():
        data = np.load(path)
        return {
            # the targets come from the texts each time: the vocabulary may have grown since the images were cached
            name: ImageSet(data[f"{name}_images"], _targets(jobs), [t for t, _, _ in jobs])
            for name, jobs in sets.items()
        }
    out = {}
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for name, jobs in sets.items():
            images = list(
                tqdm(
                    pool.map(_render_job, jobs, chunksize=64),
                    total=len(jobs),
                    desc=f"rendering {name}",
                    unit="image",
                    disable=not progress,
                )
            )
            targets = _targets(jobs)
            out[name] = ImageSet(np.stack(images), targets, [t for t, _, _ in jobs])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **{f"{n}_images": s.images for n, s in out.items()})
    tmp.replace(path)
    return out
