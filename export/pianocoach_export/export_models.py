"""Steps 1-2 of export for one trained scorer: ONNX, parity check, INT8, optional magnitude pruning,
and the figures (size, R² on the performer test list, single-thread latency) for float and INT8.

Output per model in ``artifacts/export/<model>/``: ``model.float.onnx``, ``model.int8.onnx`` (when the
model has a part int8 can touch), ``export.json``.
"""

from __future__ import annotations

import copy
import gzip
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from tqdm import tqdm

from pianocoach.errors import PianoCoachError
from pianocoach.jsonio import read_json, write_json_atomic
from pianocoach_export.measure import accuracy, latency_ms, parity, predict
from pianocoach_export.quantize import QUANTIZABLE_OPS, quantize_model
from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.models import load_scorer
from pianocoach_train.models.base import Scorer

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4  # ONNX Runtime float vs the original model, largest absolute difference
INT8_R2_BUDGET = 0.01  # INT8 ships only when it loses at most this much R² on the performer test list
PRUNE_AMOUNT = 0.5  # fraction of each Linear/Conv weight tensor zeroed by magnitude
CALIBRATION_SIZE = 256  # training performances used to calibrate static quantization
PARITY_SIZE = 8  # fixed test-list performances the parity check runs on


class ExportError(PianoCoachError):
    """A model failed an export check (parity)."""


@dataclass
class ExportResult:
    model: str
    run_dir: str
    float_path: str
    int8_path: str | None
    parity_max_abs: float
    quantization: dict[str, Any] | None
    float: dict[str, float]  # bytes, r2, pearson, latency_ms
    int8: dict[str, float] | None
    pruning: dict[str, Any] | None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def int8_ok(self) -> bool:
        return self.int8 is not None and self.float["r2"] - self.int8["r2"] <= INT8_R2_BUDGET

    def chosen(self) -> tuple[Path, str]:
        """The file a bundle ships: INT8 when it keeps R² within budget, float otherwise."""
        return (Path(self.int8_path), "int8") if self.int8_ok else (Path(self.float_path), "float32")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def read(cls, path: Path) -> "ExportResult":
        return cls(**read_json(path, what="export result"))


def int8_method(scorer: Scorer, model: onnx.ModelProto) -> str | None:
    """static QDQ for conv/linear graphs, dynamic for recurrent ones, None when nothing can be int8."""
    ops = {node.op_type for node in model.graph.node}
    if not ops & set(QUANTIZABLE_OPS):
        return None
    return "dynamic" if ops & {"GRU", "LSTM", "RNN"} else "static"


def export_model(
    run_dir: Path,
    store: FeatureStore,
    out_dir: Path,
    prune: bool = True,
    progress: bool = True,
    calibration_store: FeatureStore | None = None,
) -> ExportResult:
    """``store`` gives the test inputs the figures are measured on; ``calibration_store`` (default: the
    same) the training inputs INT8 is calibrated on (the transcription scorer is measured on held-out
    soundfont transcriptions but calibrated on training ones)."""
    scorer = load_scorer(run_dir)
    meta = read_json(run_dir / "run.json", what="run record")
    test_ids = list(store.dataset.split("performer").test)
    leaked = set(test_ids) & set(meta.get("train_ids", [])) | set(test_ids) & set(meta.get("validation_ids", []))
    if leaked:
        raise ExportError(
            f"{run_dir}: trained on {len(leaked)} performer-test ids; export measures on them (use a release model)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = tqdm(total=5 if prune else 4, desc=f"export {scorer.name}", unit="step", disable=not progress)

    steps.set_postfix_str("ONNX + parity")
    model = scorer.to_onnx()
    float_path = save_model(model, out_dir / "model.float.onnx")
    parity_feeds = scorer.onnx_feeds(store, test_ids[:PARITY_SIZE])
    max_abs = parity(float_path, parity_feeds, scorer.reference_outputs)
    if max_abs > PARITY_TOLERANCE:
        raise ExportError(
            f"{float_path}: ONNX Runtime differs from the {scorer.name} model by {max_abs:.2e} "
            f"(tolerance {PARITY_TOLERANCE:.0e})"
        )
    steps.update()

    steps.set_postfix_str("INT8")
    method = int8_method(scorer, model)
    int8_path, quantization = None, None
    if method:
        int8_path = out_dir / "model.int8.onnx"
        quantization = quantize_model(
            float_path, int8_path, method, _calibration(scorer, calibration_store or store, meta)
        ).to_dict()
    else:
        quantization = {
            "method": "none: tree ensembles have no int8 kernel in ONNX Runtime",
            "int8_ops": {},
            "float_ops": _op_counts(model),
        }
    steps.update()

    steps.set_postfix_str("R² on the performer test list")
    feeds = scorer.onnx_feeds(store, test_ids)
    labels = store.labels(test_ids)
    figures = {"float": {"bytes": float_path.stat().st_size, **accuracy(predict(float_path, feeds), labels)}}
    if int8_path:
        figures["int8"] = {"bytes": int8_path.stat().st_size, **accuracy(predict(int8_path, feeds), labels)}
    steps.update()

    steps.set_postfix_str("latency")
    paths = {"float": float_path, **({"int8": int8_path} if int8_path else {})}
    for name, ms in latency_ms(paths, _typical_feed(feeds)).items():
        figures[name]["latency_ms"] = ms
    steps.update()

    pruning = None
    if prune:
        steps.set_postfix_str("magnitude pruning")
        pruning = prune_report(scorer, out_dir, feeds, labels, figures["float"])
        steps.update()
    steps.close()

    provenance = {
        key: meta.get(key)
        for key in (
            "split",
            "purpose",
            "excluded_ids",
            "excluded_reason",
            "data_sha256",
            "feature_settings_sha256",
            "config",
        )
    }
    # audio-trained scorers (the transcription scorer) also say which soundfonts they heard and were tested on
    provenance.update({key: meta[key] for key in ("train_soundfont", "test_soundfont") if key in meta})
    provenance["n_train"] = len(meta.get("train_ids", []))
    provenance["n_validation"] = len(meta.get("validation_ids", []))
    result = ExportResult(
        scorer.name,
        str(run_dir),
        str(float_path),
        str(int8_path) if int8_path else None,
        max_abs,
        quantization,
        figures["float"],
        figures.get("int8"),
        pruning,
        provenance,
    )
    write_json_atomic(out_dir / "export.json", result.to_dict())
    return result


def prune_report(scorer: Scorer, out_dir: Path, feeds, labels: np.ndarray, unpruned: dict) -> dict | None:
    """Zero the smallest-magnitude half of every Linear/Conv weight (torch.nn.utils.prune) and report
    what it changes: sparsity, R², and the compressed size (ONNX stores zeros densely, so the raw size
    is unchanged; only compression, e.g. in a .tar.gz, gains)."""
    from torch import nn
    from torch.nn.utils import prune

    if not scorer.torch_modules():
        return None
    pruned = copy.deepcopy(scorer)
    zeroed = total = 0
    for net in pruned.torch_modules():
        for module in net.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                prune.l1_unstructured(module, "weight", amount=PRUNE_AMOUNT)
                prune.remove(module, "weight")
                zeroed += int((module.weight == 0).sum())
                total += module.weight.numel()
    path = save_model(pruned.to_onnx(), out_dir / "pruned.float.onnx")
    scores = accuracy(predict(path, feeds), labels)
    return {
        "amount": PRUNE_AMOUNT,
        "weights_zeroed": round(zeroed / max(total, 1), 3),
        "r2": scores["r2"],
        "r2_change": round(scores["r2"] - unpruned["r2"], 4),
        "bytes": path.stat().st_size,
        "gzip_bytes": len(gzip.compress(path.read_bytes())),
        "unpruned_gzip_bytes": len(gzip.compress(Path(out_dir / "model.float.onnx").read_bytes())),
    }


def _calibration(scorer: Scorer, store: FeatureStore, meta: dict) -> list[dict[str, np.ndarray]]:
    """Training-set inputs, one performance per feed (what the device sends)."""
    train = list(meta.get("train_ids", []))
    chosen = [train[i] for i in np.random.default_rng(0).permutation(len(train))[:CALIBRATION_SIZE]]
    feeds = scorer.onnx_feeds(store, chosen)
    if scorer.input_kind == "vector":
        return [{"features": row[None]} for row in feeds[0]["features"]]
    return feeds


def _typical_feed(feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One performance of median size: what one scoring call on the device sees."""
    if len(feeds) == 1:  # a batched vector feed: take its first row
        return {name: value[:1] for name, value in feeds[0].items()}
    lengths = [next(iter(f.values())).shape[1] for f in feeds]
    return feeds[int(np.argsort(lengths)[len(lengths) // 2])]


def _op_counts(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def save_model(model: onnx.ModelProto, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(path)
    return path
