"""The velocity model: how hard each note the device hears was struck (issue 19, item 1: basic-pitch plus dedicated
models; ``make velocity-model``).

Data: the transcribed renders ``make audio-render`` keeps (what the device heard in each: its notes and the sound
profile's frames). Each heard note whose onset matches a played note (same pitch, within 50 ms, mir_eval) is one
example, its label the velocity the render played (the training soundfonts' renders are augmented, velocities
included: the labels are those of the augmented take). The features are the device's own
(:class:`pianocoach.features.note_velocity.OnsetFrames` on the float16 frames the renders keep, as the device keeps
them).

Trained on the performer split's non-test performances through the transcription path's soundfonts
(``TRANSCRIPTION_SOUNDFONTS``), tested on the performer test list through the held-out soundfont: renders, not a
real piano. The model is a gradient-boosted tree ensemble (absolute error), exported to ONNX (``ai.onnx.ml``
TreeEnsembleRegressor, which ONNX Runtime runs): it has no weight tensors, so there is nothing to quantise to INT8.
Writes ``artifacts/velocity/{velocity.onnx, model.json}`` and ``reports/velocity/velocity.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pianocoach.features.note_velocity import FEATURE_NAMES, NOTE_VELOCITY_VERSION, OnsetFrames
from pianocoach.features.notes import NoteTable
from pianocoach_train import note_trees
from pianocoach_train.eval_report import write_benchmark
from pianocoach_train.note_trees import LEAVES, TREES, fit, map_takes, matched_by_onset
from pianocoach_train.paths import REPO_ROOT, percepiano_root
from pianocoach_train.plots import pyplot, save_figure
from pianocoach_train.runs import artifacts_dir, write_model_run

log = logging.getLogger(__name__)

ONNX_INPUT = "note_features"


@dataclass(frozen=True)
class VelocityTake:
    """One render's matched heard notes: their features [n, len(FEATURE_NAMES)] and the velocities played."""

    ident: str
    features: np.ndarray
    played: np.ndarray
    transcriber: np.ndarray  # basic-pitch's own velocity of the same notes (the baseline)


def heard_table(heard_notes: np.ndarray) -> NoteTable | None:
    """The heard notes (rows onset, offset, pitch, amplitude) as the device's table of them."""
    from pianocoach.transcription import notes_to_table

    return notes_to_table([tuple(row) for row in heard_notes], "transcription")


def matched_take(job: tuple[str, str, str, int]) -> VelocityTake:
    """The heard notes of one render that match a played note, with their features and the velocity played."""

    from pianocoach_train.audio.renders import RenderJob, load_render, played_table

    soundfont, ident, midi_path, seed = job
    render = load_render(soundfont, ident)
    if "heard_notes" not in render:
        raise FileNotFoundError(f"{soundfont}/{ident}: rendered before the heard notes were kept (make audio-render)")
    played, _ = played_table(RenderJob(ident, midi_path, soundfont, seed, transcribe=True))
    heard = heard_table(render["heard_notes"])
    empty = np.zeros((0, len(FEATURE_NAMES)), np.float32)
    if heard is None or not len(played):
        return VelocityTake(ident, empty, np.zeros(0), np.zeros(0))
    frames = OnsetFrames()
    frames.add(render["profile_bands"].astype(np.float32))
    features = frames.features(heard)
    truth, found = matched_by_onset(played, heard)
    return VelocityTake(
        ident, features[found], played.velocity[truth].astype(np.float64), heard.velocity[found].astype(np.float64)
    )


def load_takes(soundfont: str, ids: list[str], midi: dict, workers: int, progress: bool = True) -> list[VelocityTake]:
    from pianocoach_train.audio.renders import rendered_manifest

    seed = int(rendered_manifest(soundfont).get("seed", 0))  # the renders' augmentation seed: the labels are its takes
    jobs = [(soundfont, i, str(midi[i]), seed) for i in ids]
    return map_takes(matched_take, jobs, workers, f"heard notes {soundfont}", progress)


def stacked(takes: list[VelocityTake]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.concatenate([t.features for t in takes]).astype(np.float32),
        np.concatenate([t.played for t in takes]),
        np.concatenate([t.transcriber for t in takes]),
    )


def to_onnx(model) -> bytes:
    return note_trees.to_onnx(model, ONNX_INPUT, len(FEATURE_NAMES))


def spread_range(velocities: np.ndarray) -> float:
    """A take's velocity range as the device measures it: 95th minus 5th percentile."""
    return float(np.percentile(velocities, 95) - np.percentile(velocities, 5))


def fitted_spread(takes: list[VelocityTake], raw: np.ndarray) -> dict:
    """The spread that makes the training takes' velocity ranges as wide as played on average: the centre is the
    median raw prediction, the scale the mean played range over the mean predicted range (takes of 10 notes or more)."""
    bounds = np.cumsum([0, *(len(t.played) for t in takes)])
    pairs = [
        (spread_range(t.played), spread_range(raw[a:b]))
        for t, a, b in zip(takes, bounds[:-1], bounds[1:])
        if len(t.played) >= 10
    ]
    played, predicted = np.mean(pairs, axis=0)
    return {"centre": round(float(np.median(raw)), 2), "scale": round(float(played / max(predicted, 1e-6)), 3)}


NO_SPREAD = {"centre": 64.0, "scale": 1.0}


def onnx_velocities(model_bytes: bytes, features: np.ndarray, spread: dict = NO_SPREAD) -> np.ndarray:
    """The device's velocities (:class:`pianocoach.scoring.velocity_model.VelocityModel`) from the ONNX graph."""
    import onnxruntime as ort

    from pianocoach.scoring.velocity_model import VelocityModel

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    metrics = {"features_version": NOTE_VELOCITY_VERSION, "features": list(FEATURE_NAMES), "spread": spread}
    return VelocityModel(session, metrics, Path("velocity.onnx")).velocities(features).astype(np.float64)


def errors(predicted: np.ndarray, played: np.ndarray) -> dict:
    return {
        "mae": round(float(np.abs(predicted - played).mean()), 2),
        "r": round(float(np.corrcoef(predicted, played)[0, 1]), 3) if np.std(predicted) > 0 else 0.0,
    }


def range_error(takes: list[VelocityTake], velocities: list[np.ndarray]) -> float:
    """Mean absolute error of each take's velocity range (95th minus 5th percentile, the device's measure) against
    the range of the played velocities of the same notes."""

    pairs = [(spread_range(v), spread_range(t.played)) for t, v in zip(takes, velocities) if len(t.played) >= 10]
    return round(float(np.mean([abs(a - b) for a, b in pairs])), 2)


def cost_ms_per_1000(model_bytes: bytes, bands: np.ndarray, repeats: int = 5) -> float:
    """Features and model for 1000 notes on one thread (the features of the take's notes, repeated)."""
    from pianocoach.features.notes import NoteTable

    frames = OnsetFrames()
    frames.add(bands)
    n = 1000
    onsets = np.linspace(0.1, max(0.2, frames.count * 0.046 - 0.2), n)
    table = NoteTable.from_arrays(onsets, onsets + 0.2, np.full(n, 60), np.full(n, 64))
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        onnx_velocities(model_bytes, frames.features(table))
        best = min(best, time.perf_counter() - started)
    return round(1000 * best, 2)


def train_and_measure(root: Path, limit: int | None, workers: int) -> tuple[dict, bytes, dict]:
    from pianocoach_train.audio.evaluate import TRANSCRIPTION_SOUNDFONTS
    from pianocoach_train.audio.renders import load_render
    from pianocoach_train.audio.soundfonts import HELD_OUT
    from pianocoach_train.percepiano import PercePiano

    dataset = PercePiano.open(root)
    split = dataset.split("performer")
    midi = dataset.midi_files
    test_ids = sorted(i for i in split.test if i in midi)[:limit]
    train_ids = sorted(i for i in midi if i not in set(split.test))[: limit and 4 * limit]
    train = [t for font in TRANSCRIPTION_SOUNDFONTS for t in load_takes(font, train_ids, midi, workers)]
    test = load_takes(HELD_OUT, test_ids, midi, workers)
    x, y, _ = stacked(train)
    started = time.perf_counter()
    model = fit(x, y)
    trained_s = time.perf_counter() - started
    model_bytes = to_onnx(model)
    in_sample = model.predict(x)
    spread = fitted_spread(train, in_sample)
    tx, ty, raw = stacked(test)
    device = onnx_velocities(model_bytes, tx, spread)
    unspread = onnx_velocities(model_bytes, tx)
    host = np.clip(np.round(model.predict(tx)), 1, 127)
    slope, intercept = np.polyfit(raw, ty, 1) if np.std(raw) > 0 else (0.0, float(np.mean(ty)))
    per_take = np.cumsum([0, *(len(t.played) for t in test)])
    heard_by_take = [device[a:b] for a, b in zip(per_take[:-1], per_take[1:])]
    unspread_by_take = [unspread[a:b] for a, b in zip(per_take[:-1], per_take[1:])]
    longest = max(test_ids, key=lambda i: load_render(HELD_OUT, i)["profile_bands"].shape[1])
    report = {
        "data": "PercePiano performances rendered and transcribed by the device (make audio-render); trained on the "
        f"performer split's non-test takes through {', '.join(TRANSCRIPTION_SOUNDFONTS)} (augmented: rooms, "
        f"microphones, noise, level, velocity), tested on the performer test list through the held-out soundfont "
        f"{HELD_OUT} (clean). Renders, not a real piano.",
        "features_version": NOTE_VELOCITY_VERSION,
        "features": list(FEATURE_NAMES),
        "train_takes": len(train),
        "train_notes": len(y),
        "test_takes": len(test),
        "test_notes": len(ty),
        "trees": TREES,
        "leaves": LEAVES,
        "train_seconds": round(trained_s, 1),
        "spread": spread,
        "bytes": len(model_bytes),
        "test": {
            "model": errors(device, ty),
            "model_unspread": errors(unspread, ty),
            "transcriber_raw": errors(np.clip(raw, 1, 127), ty),
            "transcriber_linear_map": errors(slope * raw + intercept, ty),
            "constant": {**errors(np.full(len(ty), float(np.median(y))), ty), "value": float(np.median(y))},
            "velocity_range_mae": {
                "model": range_error(test, heard_by_take),
                "model_unspread": range_error(test, unspread_by_take),
                "transcriber": range_error(
                    test, [t.transcriber for t in test]
                ),  # basic-pitch's velocities, as shown before the velocity model
            },
        },
        # what the transcription scorer learns from: the model's velocities on its own training renders (in sample)
        "train_in_sample": errors(
            np.clip(np.round(spread["centre"] + spread["scale"] * (in_sample - spread["centre"])), 1, 127), y
        ),
        "onnx_vs_sklearn": {
            "max_difference": float(np.abs(unspread - host).max(initial=0)),
            "share_differing": round(float((unspread != host).mean()) if len(host) else 0.0, 5),
        },
        "ms_per_1000_notes": cost_ms_per_1000(
            model_bytes, load_render(HELD_OUT, longest)["profile_bands"].astype(np.float32)
        ),
        "plot_points": {"played": ty[::7].tolist(), "heard": device[::7].tolist()},
    }
    meta = {
        "architecture": f"gradient-boosted trees ({TREES} x {LEAVES} leaves, absolute error)",
        "precision": "float32 (a tree ensemble has no weight tensors to quantise)",
        "features_version": NOTE_VELOCITY_VERSION,
        "features": list(FEATURE_NAMES),
        "input": ONNX_INPUT,
        "spread": spread,
        "test": {
            "data": f"performer test list ({len(test)} takes, {len(ty)} matched notes), {HELD_OUT} renders",
            "mae": report["test"]["model"]["mae"],
            "r": report["test"]["model"]["r"],
        },
    }
    return report, model_bytes, meta


def markdown(report: dict) -> str:
    t = report["test"]
    rows = [
        (
            f"the velocity model, spread (centre {report['spread']['centre']:.0f}, scale "
            f"{report['spread']['scale']:.2f}; shipped)",
            t["model"],
        ),
        ("the same without the spread", t["model_unspread"]),
        ("basic-pitch's velocity (the device before)", t["transcriber_raw"]),
        ("basic-pitch's velocity after the best linear map", t["transcriber_linear_map"]),
        (f"one constant for every note ({t['constant']['value']:.0f})", t["constant"]),
    ]
    return "\n".join(
        [
            f"{report['test_notes']:,} matched notes of {report['test_takes']} takes. {report['data']}",
            "",
            "| velocity of the heard notes | MAE | r |",
            "| --- | --- | --- |",
            *(f"| {name} | {m['mae']:.2f} | {m['r']:.3f} |" for name, m in rows),
            "",
            f"Velocity range of a take (95th minus 5th percentile, the device's measure), error against the played: "
            f"{t['velocity_range_mae']['model']:.1f} with the model ({t['velocity_range_mae']['model_unspread']:.1f} "
            f"without the spread), {t['velocity_range_mae']['transcriber']:.1f} with basic-pitch's velocities.",
            "",
            f"{report['trees']} trees of {report['leaves']} leaves ({report['bytes']:,} bytes of ONNX), trained on "
            f"{report['train_notes']:,} notes in {report['train_seconds']:.0f} s (on them, in sample: MAE "
            f"{report['train_in_sample']['mae']:.2f}, r {report['train_in_sample']['r']:.3f}; the transcription scorer "
            "learns from these); features and model "
            f"{report['ms_per_1000_notes']:.1f} ms per 1000 notes on one thread. ONNX Runtime against scikit-learn: "
            f"{100 * report['onnx_vs_sklearn']['share_differing']:.2f} % of notes differ after rounding (at most "
            f"{report['onnx_vs_sklearn']['max_difference']:.0f}).",
            "",
        ]
    )


def plot(report: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    points = report["plot_points"]
    ax.scatter(points["played"], points["heard"], s=4, alpha=0.3)
    ax.plot([1, 127], [1, 127], color="grey", lw=1)
    ax.set_xlabel("velocity played (the MIDI file)")
    ax.set_ylabel("velocity heard by the velocity model")
    ax.set_title(f"Key velocity heard in held-out-soundfont renders (MAE {report['test']['model']['mae']:.1f})")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pianocoach_train.velocity_model", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", help="PercePiano folder (default $PIANOCOACH_PERCEPIANO or ../shared/percepiano)")
    parser.add_argument("--takes", type=int, help="only the first N takes of each list (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "velocity")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report, model_bytes, meta = train_and_measure(percepiano_root(args.data), args.takes, args.workers)
    write_model_run(artifacts_dir() / "velocity", "velocity.onnx", model_bytes, meta)
    write_benchmark(args.out, "velocity", report, markdown, plot)
    log.info("velocity model written to %s", artifacts_dir() / "velocity")
    print(json.dumps({"test": meta["test"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
