"""Train and measure the pedal model: the sustain pedal, down or up, heard in a microphone take (issue 19).

The model reads the device's frames (:mod:`pianocoach.features.pedal_frames`: the sound profile's 40 mel bands, one
every 46 ms) and gives each frame the probability that the pedal is down. It is a small fully convolutional network:
the bands are put against the loudest band within 31 frames (so the microphone's gain cancels, inside the graph),
then a 3-frame convolution and four dilated residual convolutions (reach 62 frames, 2.9 s, to either side: a
release heard a second after a chord, the dampers stopping every string at once).

Data (:mod:`pianocoach_train.audio.pedal_data`): PercePiano performances rendered with their pedal; trained on the
performer split's non-test takes through the training soundfonts (augmented: rooms, microphones, noise, level),
early-stopped on its fold 0; measured on the performer test list through the held-out soundfont, clean and in a room
with noise, by the device's own code (:class:`~pianocoach.features.pedal_frames.PedalTracker` running the exported
ONNX graph). None of it is a real piano: renders sustain a pedalled note, but have neither the resonance of undamped
strings nor the sound of the dampers.

Writes ``artifacts/pedal/`` (``pedal.onnx``, ``model.json``) and ``reports/pedal/pedal.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from pianocoach.features.pedal_frames import (
    FRAME_S,
    PEDAL_FRAMES_VERSION,
    PedalTracker,
    confidence,
    down_frames,
)
from pianocoach.features.sound_profile import MEL_BANDS
from pianocoach.scoring.pedal_model import RELIABLE_FROM
from pianocoach_train.audio.pedal_data import PedalJob, PedalTake, takes
from pianocoach_train.audio.soundfonts import HELD_OUT, training_soundfonts
from pianocoach_train.eval_report import write_benchmark
from pianocoach_train.paths import REPO_ROOT, percepiano_root
from pianocoach_train.plots import pyplot, save_figure
from pianocoach_train.runs import artifacts_dir, write_model_run

log = logging.getLogger(__name__)

REFERENCE_FRAMES = 31  # the bands are put against the loudest band within this many frames on either side
DILATIONS = (2, 4, 8, 16)
REACH = REFERENCE_FRAMES + 1 + sum(DILATIONS)  # frames the output sees to either side
FLOOR_DB = 80.0  # bands further below the reference count as this far
WIDTH = 32
CROP = 320  # frames per training example (15 s)
BATCH = 32
BLOCK_FRAMES = 43  # the device feeds about 2 s of frames at a time
ONSET_WINDOWS_S = (0.05, 0.1)
ONNX_INPUT, ONNX_OUTPUT = "bands", "pedal_down"
PARITY = 1e-4  # the most a chunked run may differ from one run over the take


def network(width: int = WIDTH):
    """The pedal network (torch): bands [batch, MEL_BANDS, T] in dB -> probabilities [batch, T]."""
    import torch
    from torch import nn

    class PedalNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.reference = nn.MaxPool1d(2 * REFERENCE_FRAMES + 1, stride=1, padding=REFERENCE_FRAMES)
            self.inp = nn.Conv1d(MEL_BANDS + 1, width, 3, padding=1)
            self.dilated = nn.ModuleList(nn.Conv1d(width, width, 3, dilation=d, padding=d) for d in DILATIONS)
            self.out = nn.Conv1d(width, 1, 1)

        def forward(self, bands):
            loudest = bands.max(dim=1, keepdim=True).values
            reference = self.reference(loudest)
            relative = (torch.clamp(bands - reference, min=-FLOOR_DB) + FLOOR_DB / 2) / (FLOOR_DB / 2)
            level = (torch.clamp(loudest - reference, min=-FLOOR_DB) + FLOOR_DB / 2) / (FLOOR_DB / 2)
            x = torch.relu(self.inp(torch.cat([relative, level], dim=1)))
            for conv in self.dilated:
                x = x + torch.relu(conv(x))
            return torch.sigmoid(self.out(x))[:, 0, :]

    return PedalNet()


def _batch(pool: list[PedalTake], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.full((BATCH, MEL_BANDS, CROP), -120.0, dtype=np.float32)
    y = np.zeros((BATCH, CROP), dtype=np.float32)
    mask = np.zeros((BATCH, CROP), dtype=np.float32)
    for i, take in enumerate(rng.choice(len(pool), BATCH)):
        t = pool[take]
        n = t.bands.shape[1]
        start = int(rng.integers(0, max(1, n - CROP + 1)))
        stop = min(n, start + CROP)
        gain = rng.uniform(-20, 20)  # the graph normalises; a gain must change nothing
        x[i, :, : stop - start] = t.bands[:, start:stop].astype(np.float32) + gain
        y[i, : stop - start] = t.down[start:stop]
        mask[i, : stop - start] = 1.0
    return x, y, mask


def train(pool: list[PedalTake], validation: list[PedalTake], steps: int, width: int = WIDTH, seed: int = 0):
    """The network after ``steps`` steps of AdamW, the state with the best validation frame F1 kept."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    net = network(width)
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    best, best_state, history = -1.0, None, []
    for step in range(1, steps + 1):
        x, y, mask = (torch.from_numpy(a) for a in _batch(pool, rng))
        p = net(x)
        loss = (torch.nn.functional.binary_cross_entropy(p, y, reduction="none") * mask).sum() / mask.sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 250 == 0 or step == steps:
            f1 = frame_scores(validation, lambda bands: _torch_run(net, bands))["f1"]
            history.append({"step": step, "loss": round(float(loss.detach()), 4), "validation_f1": f1})
            log.info("step %d loss %.4f validation frame F1 %.4f", step, float(loss.detach()), f1)
            if f1 > best:
                best, best_state = f1, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    return net, history


def _torch_run(net, bands: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(np.asarray(bands, dtype=np.float32)[None]))[0].numpy()


def to_onnx(net) -> bytes:
    """The network as ONNX: ``bands`` [1, MEL_BANDS, T] (dB) -> ``pedal_down`` [1, T]."""
    import io

    import torch

    buffer = io.BytesIO()
    example = torch.zeros(1, MEL_BANDS, 200)
    torch.onnx.export(
        net.eval(),
        example,
        buffer,
        input_names=[ONNX_INPUT],
        output_names=[ONNX_OUTPUT],
        dynamic_axes={ONNX_INPUT: {2: "frames"}, ONNX_OUTPUT: {1: "frames"}},
        opset_version=17,
        dynamo=False,
    )
    return buffer.getvalue()


def onnx_runner(model_bytes: bytes):
    """The device's way of running the graph: one thread, bands [1, MEL_BANDS, T] -> probabilities [T]."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return lambda bands: session.run(None, {ONNX_INPUT: np.asarray(bands, dtype=np.float32)})[0][0]


def device_probabilities(run, bands: np.ndarray) -> np.ndarray:
    """What the device computes for a take: the tracker fed about 2 s of frames at a time."""
    tracker = PedalTracker(run)
    for start in range(0, bands.shape[1], BLOCK_FRAMES):
        tracker.add(bands[:, start : start + BLOCK_FRAMES].astype(np.float32))
    return tracker.finish()


def _changes(down: np.ndarray, to: bool) -> np.ndarray:
    """Times of the frames where the pedal goes down (``to`` True) or up."""
    d = np.asarray(down, dtype=np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0 if to else 1], d])) == (1 if to else -1))
    return edges * FRAME_S


def frame_scores(pool: list[PedalTake], run, device: bool = False) -> dict:
    """Frame precision / recall / F1 of pedal down over all the frames of ``pool`` (``device``: through the
    tracker, else one run per take)."""
    tp = fp = fn = 0
    for t in pool:
        bands = t.bands.astype(np.float32)
        p = device_probabilities(run, bands) if device else run(bands)
        est = down_frames(p)
        tp += int(np.sum(est & t.down))
        fp += int(np.sum(est & ~t.down))
        fn += int(np.sum(~est & t.down))
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / max(precision + recall, 1e-9), 4),
    }


def measure(pool: list[PedalTake], run) -> dict:
    """Everything the report gives for one test condition, through the device's tracker."""
    import mir_eval

    frames = frame_scores(pool, run, device=True)
    all_down = np.concatenate([t.down for t in pool])
    share = float(all_down.mean())
    onsets = {w: [] for w in ONSET_WINDOWS_S}
    releases, pct_error, sure, spent, seconds = [], [], [], 0.0, 0.0
    per_take = []
    for t in pool:
        bands = t.bands.astype(np.float32)
        started = time.perf_counter()
        p = device_probabilities(run, bands)
        spent += time.perf_counter() - started
        seconds += bands.shape[1] * FRAME_S
        est = down_frames(p)
        for w in ONSET_WINDOWS_S:
            ref, found = _changes(t.down, True), _changes(est, True)
            if len(ref) or len(found):
                onsets[w].append(mir_eval.onset.f_measure(ref, found, window=w)[0] if len(ref) and len(found) else 0.0)
        ref_up, found_up = _changes(t.down, False), _changes(est, False)
        if len(ref_up) or len(found_up):
            releases.append(
                mir_eval.onset.f_measure(ref_up, found_up, window=0.1)[0] if len(ref_up) and len(found_up) else 0.0
            )
        pct_error.append(abs(100 * est.mean() - 100 * t.down.mean()))
        sure.append(confidence(p))
        per_take.append(
            {
                "id": t.ident,
                "true_down_pct": round(100 * float(t.down.mean()), 1),
                "heard_down_pct": round(100 * float(est.mean()), 1),
                "confidence": round(sure[-1], 3),
            }
        )
    errors, sure_enough = np.array(pct_error), np.array(sure) >= RELIABLE_FROM
    return {
        "takes": len(pool),
        "frame": frames,
        # the device shows the pedal measures of a take whose confidence reaches RELIABLE_FROM, else unknown
        "shown_share": round(float(sure_enough.mean()), 3),
        "down_pct_mae_shown": round(float(errors[sure_enough].mean()), 2) if sure_enough.any() else None,
        "down_pct_mae_withheld": round(float(errors[~sure_enough].mean()), 2) if (~sure_enough).any() else None,
        "always_down_f1": round(2 * share / (1 + share), 4),
        "down_share": round(share, 4),
        **{f"onset_f1_{int(w * 1000)}ms": round(float(np.mean(v)), 4) for w, v in onsets.items()},
        "release_f1_100ms": round(float(np.mean(releases)), 4),
        "down_pct_mae": round(float(np.mean(pct_error)), 2),
        "confidence_mean": round(float(np.mean(sure)), 3),
        "ms_per_2s_block": round(1000 * spent / max(seconds / 2.0, 1e-9), 2),
        "per_take": per_take,
    }


def int8(model_bytes: bytes, calibration: list[PedalTake]) -> bytes:
    """Statically quantised INT8 copy of the graph (QDQ), activation scales calibrated on ``calibration``. Fixed
    scales keep each frame's output local; dynamic quantisation takes each run's own activation range, so a frame
    would depend on every frame of the window and the device's chunks would no longer match one run over the take
    (measured: up to 0.04, frames flipping)."""
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.rest = iter([{ONNX_INPUT: t.bands[None, :, :CROP].astype(np.float32)} for t in calibration])

        def get_next(self):
            return next(self.rest, None)

    with tempfile.TemporaryDirectory() as folder:
        src, dst = Path(folder) / "f.onnx", Path(folder) / "q.onnx"
        src.write_bytes(model_bytes)
        quantize_static(
            str(src),
            str(dst),
            Frames(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        return dst.read_bytes()


def chunk_parity(run, pool: list[PedalTake]) -> float:
    """The largest difference between one run over a take and the device's chunked runs, over ``pool``: the graph's
    reach must fit the device's context (0 up to float rounding)."""
    worst = 0.0
    for t in pool:
        bands = t.bands.astype(np.float32)
        worst = max(worst, float(np.abs(run(bands[None]) - device_probabilities(run, bands)).max(initial=0.0)))
    return worst


def jobs(ids: list[str], midi: dict, fonts: tuple[str, ...], room: bool) -> list[PedalJob]:
    return [PedalJob(i, str(midi[i]), font, room) for font in fonts for i in ids]


def train_and_measure(
    root: Path, limit: int | None, workers: int, steps: int, width: int = WIDTH
) -> tuple[dict, bytes, dict]:
    from pianocoach_train.percepiano import PercePiano

    dataset = PercePiano.open(root)
    split = dataset.split("performer")
    test_ids = sorted(i for i in split.test if i in dataset.midi_files)[:limit]
    fold = split.fold(0)
    validation_ids = sorted(i for i in fold.validation if i in dataset.midi_files)[:limit]
    train_ids = sorted(i for i in fold.train if i in dataset.midi_files)[: limit and 4 * limit]
    fonts = training_soundfonts()
    midi = dataset.midi_files
    pool = takes(jobs(train_ids, midi, fonts, True), workers, "render training takes")
    validation = takes(jobs(validation_ids, midi, fonts, True), workers, "render validation takes")
    clean = takes(jobs(test_ids, midi, (HELD_OUT,), False), workers, "render test takes (clean)")
    room = takes(jobs(test_ids, midi, (HELD_OUT,), True), workers, "render test takes (room, noise)")
    started = time.perf_counter()
    net, history = train(pool, validation, steps, width)
    trained_s = time.perf_counter() - started
    float_bytes = to_onnx(net)
    int8_bytes = int8(float_bytes, pool[:: max(1, len(pool) // 64)])
    float_run, int8_run = onnx_runner(float_bytes), onnx_runner(int8_bytes)
    long_takes = sorted(clean, key=lambda t: -t.bands.shape[1])[:5]  # longer than a chunk and its context
    report = {
        "data": "PercePiano performer split rendered with its sustain pedal; trained on the non-test takes through "
        f"{', '.join(fonts)} (augmented), early stopping on fold 0; tested on the test list through the held-out "
        f"soundfont {HELD_OUT}. Renders, not a real piano.",
        "train_takes": len(pool),
        "validation_takes": len(validation),
        "reach_frames": REACH,
        "frame_s": round(FRAME_S, 4),
        "train_seconds": round(trained_s, 1),
        "history": history,
    }
    for name, run, size in (("float32", float_run, len(float_bytes)), ("int8", int8_run, len(int8_bytes))):
        report[name] = {
            "clean": measure(clean, run),
            "room": measure(room, run),
            "bytes": size,
            "chunk_parity": chunk_parity(run, long_takes),
        }
    # INT8 when it keeps the device's chunks exact and the frame F1 within 0.005 of float32
    close = report["int8"]["clean"]["frame"]["f1"] >= report["float32"]["clean"]["frame"]["f1"] - 0.005
    chosen = "int8" if close and report["int8"]["chunk_parity"] <= PARITY else "float32"
    report["chosen"] = chosen
    test = report[chosen]
    # the confidence gate, on the early-stopping takes (the test list only reports it)
    report["validation"] = measure(validation, int8_run if chosen == "int8" else float_run)
    meta = {
        "architecture": f"pedal convnet {width} wide, dilations {list(DILATIONS)}",
        "precision": chosen,
        "frames_version": PEDAL_FRAMES_VERSION,
        "bands": MEL_BANDS,
        "reach_frames": REACH,
        "input": ONNX_INPUT,
        "output": ONNX_OUTPUT,
        "test": {
            "data": f"performer test list ({len(clean)}), {HELD_OUT} renders",
            "clean_frame_f1": test["clean"]["frame"]["f1"],
            "room_frame_f1": test["room"]["frame"]["f1"],
            "clean_down_pct_mae": test["clean"]["down_pct_mae"],
        },
    }
    return report, (int8_bytes if chosen == "int8" else float_bytes), meta


def markdown(report: dict) -> str:
    v = report["validation"]
    rows = []
    for precision in ("float32", "int8"):
        for condition in ("clean", "room"):
            r = report[precision][condition]
            f = r["frame"]
            rows.append(
                f"| {precision} | {condition} | {f['f1']:.3f} ({f['precision']:.3f} / {f['recall']:.3f}) | "
                f"{r['always_down_f1']:.3f} | {r['onset_f1_50ms']:.3f} / {r['onset_f1_100ms']:.3f} | "
                f"{r['release_f1_100ms']:.3f} | {r['down_pct_mae']:.1f} | {100 * r['shown_share']:.0f} % "
                f"({r['down_pct_mae_shown']} / {r['down_pct_mae_withheld']}) | {r['ms_per_2s_block']:.2f} |"
            )
    return "\n".join(
        [
            f"{report['float32']['clean']['takes']} takes. {report['data']}",
            "",
            "| model | test audio | pedal frame F1 (P / R) | always down | pedal-onset F1, 50 / 100 ms | release F1, "
            f"100 ms | pedal-down % error | shown (confidence ≥ {RELIABLE_FROM}; error shown / withheld) | ms per "
            "2 s block |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Shipped: {report['chosen']} ({report[report['chosen']]['bytes']:,} bytes). Onsets and releases are on "
            f'the {report["frame_s"] * 1000:.0f} ms frame grid; "room" is one drawn room, microphone and noise per '
            "take. The pedal-down % error is over every frame of the render (its last second of decay included).",
            "",
            "Chunked on the device against one run over the take (largest difference, the 5 longest test takes): "
            + ", ".join(f"{p} {report[p]['chunk_parity']:.2g}" for p in ("float32", "int8")),
            "",
            f"The confidence gate on the early-stopping takes (fold 0, {v['takes']} renders through the training "
            f"soundfonts): {100 * v['shown_share']:.0f} % of takes shown, their pedal-down % error "
            f"{v['down_pct_mae_shown']} against {v['down_pct_mae_withheld']} for those withheld (frame F1 "
            f"{v['frame']['f1']:.3f}).",
            "",
        ]
    )


def plot(report: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    chosen = report[report["chosen"]]
    for condition, colour in (("clean", "tab:blue"), ("room", "tab:orange")):
        rows = chosen[condition]["per_take"]
        ax.scatter(
            [r["true_down_pct"] for r in rows],
            [r["heard_down_pct"] for r in rows],
            s=10,
            alpha=0.6,
            color=colour,
            label=f"{condition} (F1 {chosen[condition]['frame']['f1']:.2f})",
        )
    ax.plot([0, 100], [0, 100], color="grey", lw=1)
    ax.set_xlabel("pedal down, % of the take (the MIDI file)")
    ax.set_ylabel("pedal down, % heard by the pedal model")
    ax.set_title("Sustain pedal heard in held-out-soundfont renders")
    ax.legend()
    save_figure(fig, path)


def write_model(model_bytes: bytes, meta: dict, out: Path) -> None:
    write_model_run(out, "pedal.onnx", model_bytes, meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach_train.pedal_model", description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="PercePiano folder (default $PIANOCOACH_PERCEPIANO or ../shared/percepiano)")
    parser.add_argument("--takes", type=int, help="only the first N takes of each list (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4000, help="training steps (default 4000)")
    parser.add_argument("--width", type=int, default=WIDTH, help=f"channels of the network (default {WIDTH})")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "pedal")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report, model_bytes, meta = train_and_measure(
        percepiano_root(args.data), args.takes, args.workers, args.steps, args.width
    )
    write_model(model_bytes, meta, artifacts_dir() / "pedal")
    write_benchmark(args.out, "pedal", report, markdown, plot)
    log.info("pedal model written to %s", artifacts_dir() / "pedal")
    print(json.dumps({"chosen": report["chosen"], "test": meta["test"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
