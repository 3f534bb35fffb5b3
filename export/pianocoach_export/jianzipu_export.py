"""The jianzipu image reader through the export pipeline: ONNX (per-head probabilities and the marks'),
parity with torch, static INT8 (QDQ, per-channel) calibrated on real training crops and renders, the evaluation
on the real validation pages and the render test sets for float and INT8 (and every trained variant in torch),
and single-thread latency. ``make eval-jianzipu`` writes reports/jianzipu/."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pianocoach.bundle.verify import open_session
from pianocoach.jianzipu.image import SIZE
from pianocoach.jianzipu.reader import UNSURE
from pianocoach.jianzipu.vocab import HEADS, MARKS, MARKS_OUTPUT, OUTPUTS, OUTSIDE_OUTPUT
from pianocoach.jsonio import write_json_atomic
from pianocoach_export.export_models import PARITY_TOLERANCE, ExportError, save_model
from pianocoach_export.measure import latency_ms, parity
from pianocoach_export.quantize import quantize_model
from pianocoach_export.trained_models import reader_runs
from pianocoach_train.jianzipu import real_crops
from pianocoach_train.jianzipu.dataset import ImageSet, Sizes, build
from pianocoach_train.jianzipu.evaluate import (
    DEVELOPMENT_SET,
    GOALS,
    PARTS,
    REAL_SET,
    TEST_SETS,
    evaluate_set,
    head_probabilities,
    markdown,
    plot,
    unsure_shares,
)
from pianocoach_train.jianzipu.model import AveragedProbabilities, ProbabilityNet
from pianocoach_train.jianzipu.train import (
    CONFIG,
    DEVELOPMENT_PAGES,
    ENSEMBLE,
    READER_SIZES,
    VARIANTS,
    load_reader,
    reader_dir,
    real_sets,
)
from pianocoach_train.models.onnx_graphs import torch_to_onnx
from pianocoach_train.runs import artifacts_dir
from pianocoach_train.train_config import TrainConfig

log = logging.getLogger(__name__)

ROLE = "jianzipu_reader"
LABELS = (
    tuple(f"{head}:{cls}" for head, classes in HEADS.items() for cls in classes)
    + tuple(f"{MARKS_OUTPUT}:{mark}" for mark in MARKS)
    + (f"{OUTSIDE_OUTPUT}:yes",)
)


@dataclass
class ReaderExport:
    run_dir: str  # the first member's run
    members: list[str]  # every member's run (the reader averages their probabilities)
    float_path: str
    int8_path: str
    parity_max_abs: float
    quantization: dict
    bytes: dict
    latency_ms: dict
    results: dict  # variant -> test set -> metrics
    coverage: dict  # how many real characters the vocabulary describes
    unsure: dict  # how often the INT8 reader says it is unsure, within and outside the vocabulary

    def to_dict(self) -> dict:
        return asdict(self)


def _onnx_predict(path: Path):
    sess = open_session(path)

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(OUTPUTS, sess.run(list(OUTPUTS), {"image": x})))

    return predict


def _torch_predict(net: torch.nn.Module):
    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {name: t.numpy() for name, t in zip(OUTPUTS, net(torch.from_numpy(x)))}

    return predict


def evaluate_all(predict, sets: dict[str, ImageSet]) -> dict[str, dict]:
    return {
        name: evaluate_set(head_probabilities(predict, sets[name].images), sets[name].targets, sets[name].texts)
        for name in TEST_SETS
    }


def export_reader(
    out_dir: Path | None = None, progress: bool = True, sizes: Sizes = READER_SIZES, config: TrainConfig = CONFIG
) -> ReaderExport:
    runs = reader_runs(sizes, config)  # trained by `make jianzipu-reader`; a missing one stops here
    real = real_sets(progress=progress)
    renders = build(sizes, progress=progress)
    sets: dict[str, ImageSet] = {**{n: renders[n] for n in TEST_SETS if n in renders}, REAL_SET: real["validation"]}
    out_dir = out_dir or artifacts_dir() / "export" / ROLE
    out_dir.mkdir(parents=True, exist_ok=True)
    net = AveragedProbabilities([ProbabilityNet(load_reader(run)) for run in runs]).eval()
    model = torch_to_onnx(
        net, (torch.zeros(1, 1, SIZE, SIZE),), ["image"], {"image": {0: "batch"}}, output_names=OUTPUTS
    )
    float_path = save_model(model, out_dir / "model.float.onnx")

    probe = real["validation"].images[:16].astype(np.float32)[:, None] / 255.0

    def reference(feed: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([t.numpy() for t in net(torch.from_numpy(feed["image"]))], axis=1)

    max_abs = parity(float_path, [{"image": probe}], reference)
    if max_abs > PARITY_TOLERANCE:
        raise ExportError(
            f"{float_path}: ONNX Runtime differs from torch by {max_abs:.2e} (tolerance {PARITY_TOLERANCE:.0e})"
        )

    rng = np.random.default_rng(0)
    pool = [real["train"].images, renders["train"].images]
    chosen = [(images, i) for images in pool for i in rng.permutation(len(images))[:128]]
    calibration = [{"image": images[i : i + 1].astype(np.float32)[:, None] / 255.0} for images, i in chosen]
    int8_path = out_dir / "model.int8.onnx"
    quantization = quantize_model(float_path, int8_path, "static", calibration).to_dict()

    results = {}
    for variant in VARIANTS:  # every trained variant, in torch (the comparison the issue asks for)
        folder = reader_dir(variant)
        if (folder / "model.pt").is_file():
            predict = _torch_predict(ProbabilityNet(load_reader(folder)))
            development = real["development"]
            results[f"{variant} (torch)"] = {
                **evaluate_all(predict, sets),
                DEVELOPMENT_SET: evaluate_set(
                    head_probabilities(predict, development.images), development.targets, development.texts
                ),
            }
    for variant, predict in (("float (ONNX)", _onnx_predict(float_path)), ("INT8 (ONNX)", _onnx_predict(int8_path))):
        results[variant] = evaluate_all(predict, sets)
    int8_predict = _onnx_predict(int8_path)
    unsure = unsure_shares(
        head_probabilities(int8_predict, real["validation"].images),
        head_probabilities(int8_predict, real["validation_outside"].images),
        UNSURE,
    )
    one = {"image": probe[:1]}
    times = latency_ms({"float": float_path, "int8": int8_path}, one)
    export = ReaderExport(
        str(runs[0]),
        [str(run) for run in runs],
        str(float_path),
        str(int8_path),
        max_abs,
        quantization,
        {"float": float_path.stat().st_size, "int8": int8_path.stat().st_size},
        times,
        results,
        real_crops.coverage(real_crops.load_crops()),
        unsure,
    )
    write_json_atomic(out_dir / "export.json", export.to_dict())
    return export


def write_report(export: ReaderExport, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js, png = out_dir / "eval.md", out_dir / "eval.json", out_dir / "eval.png"
    int8 = export.results["INT8 (ONNX)"]
    confusion_lines = []
    for set_name in TEST_SETS:
        worst = []
        for head, rows in int8[set_name]["confusions"].items():
            worst += [f"{head} {r['true']}→{r['read']} x{r['count']}" for r in rows[:2]]
        confusion_lines.append(f"- {set_name.replace('_', ' ')}: " + ("; ".join(worst) or "none"))
    real = int8[REAL_SET]
    coverage = export.coverage
    verdicts = [
        f"exact top-1 {real['exact_top1']:.3f} (goal {GOALS['exact_top1']:.2f}: "
        f"{'met' if real['exact_top1'] >= GOALS['exact_top1'] else 'NOT met'})",
        f"lowest part {min(real['parts'][p] for p in PARTS):.3f} (goal {GOALS['parts']:.2f} each: "
        f"{'met' if min(real['parts'][p] for p in PARTS) >= GOALS['parts'] else 'NOT met'})",
        f"{coverage['within_vocabulary']} of {coverage['labelled']} labelled real characters within the vocabulary "
        f"({coverage['share_within']:.3f}; goal {GOALS['share_within']:.1f}: "
        f"{'met' if coverage['share_within'] >= GOALS['share_within'] else 'NOT met'})",
    ]
    outside = "; ".join(f"{why} x{n}" for why, n in list(coverage["outside_by_reason"].items())[:8])
    text = (
        "# Jianzipu image reader\n\n"
        "Data: the real crops of 五声琴谱 pages 3-25 (`../shared/guqin`, guqinMM). The reader trains on the pages "
        "not listed here and stops early on pages " + ", ".join(map(str, DEVELOPMENT_PAGES)) + "; "
        f"**{REAL_SET.replace('_', ' ')}** = pages {', '.join(map(str, real_crops.VALIDATION_PAGES))} "
        "(never trained or tuned on), within the vocabulary. The render sets are our own renders (the 96-character "
        "set in the training fonts, combinations held out of training, a font never used): not a claim about "
        "real pages. Other handbooks are not measured here.\n\n"
        "Per part: hui = whole and tenth both right, over characters with a hui; marks = the whole set of marks "
        "right. Exact = every part right, top-1 and top-5 over whole readings from the part probabilities.\n\n"
        "On the real validation pages (INT8, as shipped): " + "; ".join(verdicts) + ".\n\n"
        f"{markdown(export.results)}\n\n"
        "The bundle's reader (the float and INT8 rows) averages the probabilities of the "
        + " and ".join(f"`{v}`" for v in ENSEMBLE)
        + " variants, chosen on the development pages (the "
        f"`{DEVELOPMENT_SET}` rows, pages {', '.join(map(str, DEVELOPMENT_PAGES))}), never on the validation pages.\n\n"
        f"Outside the vocabulary (not read, counted): {outside}.\n\n"
        "Declined (said to be outside the vocabulary, or unsure: best reading below "
        f"{export.unsure['threshold']:.2f}) on the validation pages: {export.unsure['outside']['declined']:.3f} of "
        f"the {export.unsure['outside']['n']} characters outside the vocabulary (said outside "
        f"{export.unsure['outside']['said_outside']:.3f}), and {export.unsure['within']['declined']:.3f} of the "
        f"{export.unsure['within']['n']} within it (said outside {export.unsure['within']['said_outside']:.3f}; "
        "those count as misses in the table).\n\n"
        f"Size: float {export.bytes['float'] / 1e3:.0f} KB, INT8 {export.bytes['int8'] / 1e3:.0f} KB. "
        f"Single-thread latency per image: float {export.latency_ms['float']:.2f} ms, "
        f"INT8 {export.latency_ms['int8']:.2f} ms. Parity (ONNX float vs torch): {export.parity_max_abs:.1e}.\n\n"
        "Most frequent confusions (INT8):\n\n" + "\n".join(confusion_lines) + "\n\n![accuracy](eval.png)\n"
    )
    tmp = md.with_name(".eval.md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(md)
    write_json_atomic(js, export.to_dict())
    plot({name: r for name, r in export.results.items() if "ONNX" not in name or name.startswith("INT8")}, png)
    return {"markdown": md, "json": js, "plot": png}


def add_to_default_bundle(key_path: Path | None, progress: bool = True) -> Path:
    """Put the trained reader (exported, INT8) into the committed default bundle in place of the old one (the other
    models kept, see :mod:`pianocoach_export.bundle_additions`)."""
    from pianocoach_export.bundle_additions import add_to_default_bundle as add
    from pianocoach_export.bundle_assembly import reader_model

    return add(reader_model(progress), key_path)
