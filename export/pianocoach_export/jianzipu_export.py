"""The jianzipu image reader through the export pipeline: ONNX (per-head probabilities), parity with
torch, static INT8 (QDQ, per-channel) calibrated on training renders, the evaluation on the three test
sets for float and INT8, and single-thread latency. ``make eval-jianzipu`` writes reports/jianzipu/."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pianocoach.bundle.verify import open_session
from pianocoach.jianzipu.image import SIZE
from pianocoach.jianzipu.vocab import HEADS
from pianocoach.jsonio import write_json_atomic
from pianocoach_export.export_models import PARITY_TOLERANCE, ExportError, save_model
from pianocoach_export.measure import latency_ms, parity
from pianocoach_export.quantize import quantize_model
from pianocoach_export.trained_models import reader_run
from pianocoach_train.jianzipu.dataset import ImageSet, Sizes, build
from pianocoach_train.jianzipu.evaluate import TEST_SETS, evaluate_set, head_probabilities, markdown, plot
from pianocoach_train.jianzipu.model import ProbabilityNet
from pianocoach_train.jianzipu.train import CONFIG, load_reader
from pianocoach_train.models.onnx_graphs import torch_to_onnx
from pianocoach_train.runs import artifacts_dir
from pianocoach_train.train_config import TrainConfig

log = logging.getLogger(__name__)

ROLE = "jianzipu_reader"
LABELS = tuple(f"{head}:{cls}" for head, classes in HEADS.items() for cls in classes)


@dataclass
class ReaderExport:
    run_dir: str
    float_path: str
    int8_path: str
    parity_max_abs: float
    quantization: dict
    bytes: dict
    latency_ms: dict
    results: dict  # variant -> test set -> metrics

    def to_dict(self) -> dict:
        return asdict(self)


def _onnx_predict(path: Path):
    sess = open_session(path)

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(HEADS, sess.run(list(HEADS), {"image": x})))

    return predict


def export_reader(
    out_dir: Path | None = None, sizes: Sizes = Sizes(), progress: bool = True, config: TrainConfig = CONFIG
) -> ReaderExport:
    run_dir = reader_run(sizes, config)  # trained by `make jianzipu-reader`; a missing one stops here
    sets: dict[str, ImageSet] = build(sizes, progress=progress)
    out_dir = out_dir or artifacts_dir() / "export" / ROLE
    out_dir.mkdir(parents=True, exist_ok=True)
    net = ProbabilityNet(load_reader(run_dir)).eval()
    model = torch_to_onnx(
        net, (torch.zeros(1, 1, SIZE, SIZE),), ["image"], {"image": {0: "batch"}}, output_names=tuple(HEADS)
    )
    float_path = save_model(model, out_dir / "model.float.onnx")

    probe = sets["benchmark_96"].images[:16].astype(np.float32)[:, None] / 255.0

    def reference(feed: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([t.numpy() for t in net(torch.from_numpy(feed["image"]))], axis=1)

    max_abs = parity(float_path, [{"image": probe}], reference)
    if max_abs > PARITY_TOLERANCE:
        raise ExportError(
            f"{float_path}: ONNX Runtime differs from torch by {max_abs:.2e} (tolerance {PARITY_TOLERANCE:.0e})"
        )

    train_images = sets["train"].images
    chosen = np.random.default_rng(0).permutation(len(train_images))[:256]
    calibration = [{"image": train_images[i : i + 1].astype(np.float32)[:, None] / 255.0} for i in chosen]
    int8_path = out_dir / "model.int8.onnx"
    quantization = quantize_model(float_path, int8_path, "static", calibration).to_dict()

    results = {}
    for variant, predict in (("float (ONNX)", _onnx_predict(float_path)), ("INT8 (ONNX)", _onnx_predict(int8_path))):
        results[variant] = {}
        for name in TEST_SETS:
            data = sets[name]
            results[variant][name] = evaluate_set(head_probabilities(predict, data.images), data.targets, data.texts)
    one = {"image": probe[:1]}
    times = latency_ms({"float": float_path, "int8": int8_path}, one)
    export = ReaderExport(
        str(run_dir),
        str(float_path),
        str(int8_path),
        max_abs,
        quantization,
        {"float": float_path.stat().st_size, "int8": int8_path.stat().st_size},
        times,
        results,
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
    text = (
        "# Jianzipu image reader\n\n"
        "Per-part accuracy (hui = whole and tenth both right, over stopped notes and harmonics) and whole-character "
        "exact match, top-1 and top-5 over whole characters from the part probabilities. Test sets: the 96-character "
        "set in the training fonts (new renders); combinations held out of training entirely; a font never used in "
        "training (AR PL UKai).\n\n"
        f"{markdown(export.results)}\n\n"
        f"Size: float {export.bytes['float'] / 1e3:.0f} KB, INT8 {export.bytes['int8'] / 1e3:.0f} KB. "
        f"Single-thread latency per image: float {export.latency_ms['float']:.2f} ms, "
        f"INT8 {export.latency_ms['int8']:.2f} ms. Parity (ONNX float vs torch): {export.parity_max_abs:.1e}.\n\n"
        "Most frequent confusions (INT8):\n\n" + "\n".join(confusion_lines) + "\n\n![accuracy](eval.png)\n"
    )
    tmp = md.with_name(".eval.md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(md)
    write_json_atomic(js, export.to_dict())
    plot({"INT8": int8}, png)
    return {"markdown": md, "json": js, "plot": png}
