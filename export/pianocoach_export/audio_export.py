"""Export of the audio scorers: ONNX, parity, INT8, and their figures on the held-out soundfont.

Per release audio model (``artifacts/release/audio_<name>``): float ONNX checked against torch on 8
held-out blocks, INT8 (static QDQ; dynamic when the graph has a GRU, whose op stays float), R² on the
performer test list rendered with the held-out soundfont (blocks aggregated by the activity-weighted
mean, as the device does), model size, and single-thread latency per 2 s block for float and INT8. The
device's feature computation per block is timed too (it runs before every model call).
Output: ``artifacts/export/audio_<name>/`` and ``export.json`` there.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from pianocoach.features.audio import AudioFeatureStream
from pianocoach.jsonio import read_json, write_json_atomic
from pianocoach_export.export_models import PARITY_TOLERANCE, ExportError, ExportResult, int8_method, save_model
from pianocoach_export.measure import accuracy, latency_ms, parity, predict
from pianocoach_export.quantize import quantize_model
from pianocoach_train.audio.data import RenderedSet, aggregate
from pianocoach_train.audio.train import AudioScorer
from pianocoach_train.release import release_dir
from pianocoach_train.runs import artifacts_dir

log = logging.getLogger(__name__)

CALIBRATION_BLOCKS = 256


def _block_feeds(scorer: AudioScorer, rendered: RenderedSet, rows: np.ndarray) -> list[dict[str, np.ndarray]]:
    return [{n: rendered.arrays[n][[r]].astype(np.float32) for n in scorer.inputs} for r in rows]


def _batched_feed(scorer: AudioScorer, rendered: RenderedSet, rows: np.ndarray) -> dict[str, np.ndarray]:
    return {n: rendered.arrays[n][rows].astype(np.float32) for n in scorer.inputs}


def export_audio_model(
    name: str,
    held_out: RenderedSet,
    training: RenderedSet,
    labels: dict[str, np.ndarray],
    out_dir: Path | None = None,
    run_dir: Path | None = None,
) -> ExportResult:
    """Export the release model (or the run in ``run_dir``: an evaluation fold, for its size and latency)."""
    run_dir = run_dir or release_dir(f"audio_{name}")
    scorer = AudioScorer.load(run_dir)
    meta = read_json(run_dir / "run.json", what="run record")
    test_ids = list(meta.get("excluded_ids") or meta["test_ids"])
    out_dir = out_dir or artifacts_dir() / "export" / f"audio_{name}"
    out_dir.mkdir(parents=True, exist_ok=True)

    model = scorer.to_onnx()
    float_path = save_model(model, out_dir / "model.float.onnx")
    test_rows = held_out.block_rows(test_ids)
    max_abs = parity(float_path, _block_feeds(scorer, held_out, test_rows[:8]), scorer.reference_outputs)
    if max_abs > PARITY_TOLERANCE:
        raise ExportError(f"{float_path}: ONNX Runtime differs from the {name} model by {max_abs:.2e}")

    method = int8_method(scorer, model)
    int8_path = out_dir / "model.int8.onnx"
    train_rows = training.block_rows(meta["train_ids"])
    chosen = train_rows[np.random.default_rng(0).permutation(len(train_rows))[:CALIBRATION_BLOCKS]]
    quantization = quantize_model(float_path, int8_path, method, _block_feeds(scorer, training, chosen)).to_dict()

    truth = np.stack([labels[i] for i in test_ids])
    feed = _batched_feed(scorer, held_out, test_rows)
    figures = {}
    for precision, path in (("float", float_path), ("int8", int8_path)):
        _, weighted = aggregate(predict(path, [feed]), held_out, test_ids)
        figures[precision] = {"bytes": path.stat().st_size, **accuracy(weighted, truth)}
    one_block = {n: v[:1] for n, v in feed.items()}
    for precision, ms in latency_ms({"float": float_path, "int8": int8_path}, one_block).items():
        figures[precision]["latency_ms"] = ms
    figures["float"]["features_ms"] = feature_latency_ms()
    provenance = {
        key: meta.get(key)
        for key in (
            "split",
            "purpose",
            "excluded_reason",
            "feature_settings_sha256",
            "config",
            "test_soundfont",
            "train_soundfonts",
        )
    }
    provenance.update(n_train=len(meta["train_ids"]), n_validation=len(meta["validation_ids"]), excluded_ids=test_ids)
    result = ExportResult(
        name,
        str(run_dir),
        str(float_path),
        str(int8_path),
        max_abs,
        quantization,
        figures["float"],
        figures["int8"],
        None,
        provenance,
    )
    write_json_atomic(out_dir / "export.json", result.to_dict())
    return result


def feature_latency_ms(seconds: float = 20.0, rounds: int = 3) -> float:
    """Median milliseconds the device's feature code takes per 2 s block (44.1 kHz capture of a
    synthetic piano-like signal), streamed block by block. Run with OMP_NUM_THREADS=1 for one core."""
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    notes = 220.0 * 2 ** (np.floor(t * 3) % 12 / 12)
    audio = (0.3 * np.sin(2 * np.pi * notes * t) * np.exp(-3 * (t % (1 / 3)))).astype(np.float32)
    times = []
    for _ in range(rounds):
        stream = AudioFeatureStream()
        for start in range(0, len(audio), 2 * rate):
            began = time.perf_counter()
            stream.feed(audio[start : start + 2 * rate], rate)
            times.append(time.perf_counter() - began)
    log.info("feature latency measured with OMP_NUM_THREADS=%s", os.environ.get("OMP_NUM_THREADS", "unset"))
    return round(1000 * float(np.median(times[1:])), 2)
