"""The note-end model: when each note the device hears stops sounding (issue 19, note-with-offset F1 0.20; route
"basic-pitch plus dedicated models"; ``make note-end-model``). Measured here; ``make bundle-note-end`` puts it into
the default bundle.

Data: the transcribed renders ``make audio-render`` keeps (the notes basic-pitch heard in each and the sound profile's
frames). Each heard note whose onset matches a played note (same pitch, within 50 ms, mir_eval) is one example; its
label is the log of its sounding length (the key release held on to the next sustain-pedal release, of the take as
rendered: the training renders are tempo-augmented) over its heard length. The features are
:func:`pianocoach.features.note_ends.note_end_features`, with the pedal heard by the default bundle's pedal model in
the same frames (the model is recorded: the features depend on it).

Trained on the performer split's non-test performances through the transcription path's soundfonts, tested on the
performer test list through the held-out soundfont, clean: renders, not a real piano. Gradient-boosted trees
(absolute error) exported to ONNX. The figure that matters is mir_eval's note-with-offset F1 over all heard notes
(unmatched ones too), against basic-pitch's own ends and against the ends the played pedal would give them
(``make eval-offsets``). The pedal is ``make pedal-model``'s when one is trained, else the default bundle's: the one a
bundle made now would carry with it. Writes ``artifacts/note_end/{note_end.onnx, model.json}`` and
``reports/note_end/note_end.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pianocoach.features import DEFAULT_SETTINGS, NoteTable
from pianocoach.features.descriptors import sounding_offsets
from pianocoach.features.note_ends import (
    FEATURE_NAMES,
    FRAME_SECONDS,
    NOTE_END_VERSION,
    note_end_features,
    sounding_ends,
)
from pianocoach_train import note_trees
from pianocoach_train.eval_report import write_benchmark
from pianocoach_train.note_trees import LEAVES, TREES, fit, map_takes, matched_by_onset
from pianocoach_train.offset_analysis import held_on
from pianocoach_train.paths import REPO_ROOT, percepiano_root
from pianocoach_train.plots import pyplot, save_figure
from pianocoach_train.runs import artifacts_dir, write_model_run
from pianocoach_train.transcription_eval import OFFSET_RATIO, ONSET_TOLERANCE_S

log = logging.getLogger(__name__)

ONNX_INPUT = "note_end_features"
DEFAULT_PEDAL = REPO_ROOT / "device" / "pianocoach" / "data" / "default_bundle" / "models" / "pedal.onnx"


def default_pedal() -> Path:
    """The pedal model a bundle made now would carry: ``make pedal-model``'s when trained, else the default bundle's
    (the note-end model must learn with that one: the bundle pairs them)."""
    from pianocoach_train.audio.heard_pedal import pedal_source

    return pedal_source().path


@dataclass(frozen=True)
class NoteEndTake:
    """One render: its heard notes' features, which of them match a played note (and their labels), and what the
    offset F1 needs (the played table with its sounding ends, the heard and the played-pedal ends)."""

    ident: str
    features: np.ndarray  # [heard notes, len(FEATURE_NAMES)]
    matched: np.ndarray  # indices of the heard notes that match a played note
    label: np.ndarray  # log(sounding / heard length) of those
    played: NoteTable
    heard: NoteTable
    played_pedal_ends: np.ndarray
    pedal_held: np.ndarray  # of the matched notes: whether the pedal held the key's release
    sounding_s: np.ndarray  # of the matched notes: how long each sounded, from its heard onset


@lru_cache(maxsize=1)
def _pedal_session(path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def pedal_probabilities(pedal_model: str, bands: np.ndarray) -> np.ndarray:
    """The pedal model's probability per frame of ``bands`` [MEL_BANDS, T], one run over the take (the device's
    chunked tracker gives the same, README *The sustain pedal heard*)."""
    session = _pedal_session(pedal_model)
    out = session.run(None, {session.get_inputs()[0].name: bands[None].astype(np.float32)})[0]
    return np.asarray(out, dtype=np.float64).reshape(-1)


def take(job: tuple[str, str, str, int, str]) -> NoteEndTake | None:

    from pianocoach_train.audio.renders import RenderJob, load_render, played_table
    from pianocoach_train.velocity_model import heard_table

    soundfont, ident, midi_path, seed, pedal_model = job
    render = load_render(soundfont, ident)
    if "heard_notes" not in render:
        raise FileNotFoundError(f"{soundfont}/{ident}: rendered before the heard notes were kept (make audio-render)")
    played, _ = played_table(RenderJob(ident, midi_path, soundfont, seed, transcribe=True))
    heard = heard_table(render["heard_notes"])
    if heard is None or not len(played):
        return None
    bands = render["profile_bands"].astype(np.float32)
    features = note_end_features(heard, pedal_probabilities(pedal_model, bands), bands)
    sounding = sounding_offsets(played, DEFAULT_SETTINGS.pedal_threshold)
    truth, found = matched_by_onset(played, heard)
    # against the heard onset: the device's end is the heard onset plus the heard length times the model's ratio
    sounding_s = np.maximum(sounding[truth] - heard.onset[found], 0.01)
    label = np.log(sounding_s / np.maximum(heard.offset[found] - heard.onset[found], 0.01))
    held = sounding[truth] > played.offset[truth] + 1e-6
    ends = held_on(heard, played.pedal_events)
    return NoteEndTake(ident, features, found, label, played, heard, ends, held, sounding_s)


def load_takes(
    soundfont: str, ids: list[str], midi: dict, pedal_model: str, workers: int, progress: bool = True
) -> list[NoteEndTake]:
    from pianocoach_train.audio.renders import rendered_manifest

    seed = int(rendered_manifest(soundfont).get("seed", 0))
    jobs = [(soundfont, i, str(midi[i]), seed, pedal_model) for i in ids]
    return [t for t in map_takes(take, jobs, workers, f"note ends {soundfont}", progress) if t is not None]


def to_onnx(model) -> bytes:
    return note_trees.to_onnx(model, ONNX_INPUT, len(FEATURE_NAMES))


def onnx_log_ratios(model_bytes: bytes, features: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return session.run(None, {ONNX_INPUT: features.astype(np.float32)})[0].reshape(-1).astype(np.float64)


def offset_f1(played: NoteTable, heard: NoteTable, ends: np.ndarray) -> float:
    """mir_eval's note-with-offset F1 of the heard notes ending at ``ends``, against the sounding ends (as
    ``make eval-transcription``)."""
    import mir_eval

    sounding = sounding_offsets(played, DEFAULT_SETTINGS.pedal_threshold)
    return float(
        mir_eval.transcription.precision_recall_f1_overlap(
            np.c_[played.onset, np.maximum(sounding, played.onset + 0.01)],
            mir_eval.util.midi_to_hz(played.pitch.astype(float)),
            np.c_[heard.onset, np.maximum(ends, heard.onset + 0.01)],
            mir_eval.util.midi_to_hz(heard.pitch.astype(float)),
            onset_tolerance=ONSET_TOLERANCE_S,
            offset_ratio=OFFSET_RATIO,
        )[2]
    )


def cost_ms_per_1000(model_bytes: bytes, bands: np.ndarray, pedal: np.ndarray, repeats: int = 5) -> float:
    """Features and model for 1000 notes on one thread."""
    n = 1000
    onsets = np.linspace(0.1, max(0.2, bands.shape[1] * FRAME_SECONDS - 0.5), n)
    table = NoteTable.from_arrays(onsets, onsets + 0.3, 36 + np.arange(n) % 60, np.full(n, 64))
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        onnx_log_ratios(model_bytes, note_end_features(table, pedal, bands))
        best = min(best, time.perf_counter() - started)
    return round(1000 * best, 2)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_and_measure(root: Path, limit: int | None, workers: int, pedal_model: Path) -> tuple[dict, bytes, dict]:
    from pianocoach_train.audio.evaluate import TRANSCRIPTION_SOUNDFONTS
    from pianocoach_train.audio.renders import load_render
    from pianocoach_train.audio.soundfonts import HELD_OUT
    from pianocoach_train.percepiano import PercePiano

    dataset = PercePiano.open(root)
    split = dataset.split("performer")
    midi = dataset.midi_files
    test_ids = sorted(i for i in split.test if i in midi)[:limit]
    train_ids = sorted(i for i in midi if i not in set(split.test))[: limit and 4 * limit]
    pedal = str(pedal_model)
    train = [t for font in TRANSCRIPTION_SOUNDFONTS for t in load_takes(font, train_ids, midi, pedal, workers)]
    test = load_takes(HELD_OUT, test_ids, midi, pedal, workers)
    x = np.concatenate([t.features[t.matched] for t in train]).astype(np.float32)
    y = np.concatenate([t.label for t in train])
    started = time.perf_counter()
    model = fit(x, y)
    trained_s = time.perf_counter() - started
    model_bytes = to_onnx(model)
    f1 = {"heard": [], "model": [], "played_pedal": []}
    errors = {"heard": [], "model": []}
    within: dict[str, list] = {"held": [], "not_held": []}  # rows: (heard end within tolerance, model end within)
    host_gap = 0.0
    for t in test:
        ratio = onnx_log_ratios(model_bytes, t.features)
        host_gap = max(host_gap, float(np.abs(ratio - model.predict(t.features)).max(initial=0)))
        ends = sounding_ends(t.heard, ratio)
        f1["heard"].append(offset_f1(t.played, t.heard, t.heard.offset))
        f1["model"].append(offset_f1(t.played, t.heard, ends))
        f1["played_pedal"].append(offset_f1(t.played, t.heard, t.played_pedal_ends))
        errors["heard"] += np.abs(t.label).tolist()  # basic-pitch's ends: a log ratio of 0
        errors["model"] += np.abs(t.label - ratio[t.matched]).tolist()
        tolerance = np.maximum(0.05, OFFSET_RATIO * t.sounding_s)  # mir_eval's offset tolerance
        heard_s = t.heard.offset[t.matched] - t.heard.onset[t.matched]
        model_s = ends[t.matched] - t.heard.onset[t.matched]
        for i, held in enumerate(t.pedal_held):
            within["held" if held else "not_held"].append(
                (abs(heard_s[i] - t.sounding_s[i]) <= tolerance[i], abs(model_s[i] - t.sounding_s[i]) <= tolerance[i])
            )
    longest = max(test_ids, key=lambda i: load_render(HELD_OUT, i)["profile_bands"].shape[1])
    bands = load_render(HELD_OUT, longest)["profile_bands"].astype(np.float32)
    report = {
        "data": "PercePiano performances rendered and transcribed by the device (make audio-render); trained on the "
        f"performer split's non-test takes through {', '.join(TRANSCRIPTION_SOUNDFONTS)} (augmented: rooms, "
        f"microphones, noise, level, tempo), tested on the performer test list through the held-out soundfont "
        f"{HELD_OUT} (clean). Renders, not a real piano.",
        "features_version": NOTE_END_VERSION,
        "features": list(FEATURE_NAMES),
        "pedal_model": {"path": str(pedal_model), "sha256": sha256_file(pedal_model)},
        "train_takes": len(train),
        "train_notes": len(y),
        "test_takes": len(test),
        "test_heard_notes": int(sum(len(t.heard) for t in test)),
        "test_matched_notes": len(errors["model"]),
        "trees": TREES,
        "leaves": LEAVES,
        "train_seconds": round(trained_s, 1),
        "bytes": len(model_bytes),
        "offset_f1": {k: round(float(np.mean(v)), 3) for k, v in f1.items()},
        "log_ratio_mae": {k: round(float(np.mean(v)), 3) for k, v in errors.items()},
        # matched notes whose end is within mir_eval's offset tolerance, apart for keys the pedal held and did not
        "within_tolerance": {
            group: {
                "notes": len(rows),
                "heard": round(float(np.mean([r[0] for r in rows])), 3) if rows else None,
                "model": round(float(np.mean([r[1] for r in rows])), 3) if rows else None,
            }
            for group, rows in within.items()
        },
        "importance": dict(zip(FEATURE_NAMES, np.round(model.feature_importances_, 3).tolist())),
        "onnx_vs_sklearn_max_difference": host_gap,
        "ms_per_1000_notes": cost_ms_per_1000(model_bytes, bands, pedal_probabilities(pedal, bands)),
        "per_take": [{"ident": t.ident, **{k: round(v[i], 4) for k, v in f1.items()}} for i, t in enumerate(test)],
    }
    meta = {
        "architecture": f"gradient-boosted trees ({TREES} x {LEAVES} leaves, absolute error)",
        "precision": "float32 (a tree ensemble has no weight tensors to quantise)",
        "features_version": NOTE_END_VERSION,
        "features": list(FEATURE_NAMES),
        "input": ONNX_INPUT,
        "output": "log(sounding length / heard length) per note",
        "pedal_sha256": report["pedal_model"]["sha256"],
        "test": {
            "data": f"performer test list ({len(test)} takes), {HELD_OUT} renders",
            "offset_f1": report["offset_f1"]["model"],
            "offset_f1_heard": report["offset_f1"]["heard"],
        },
    }
    return report, model_bytes, meta


def markdown(report: dict) -> str:
    f1, mae = report["offset_f1"], report["log_ratio_mae"]
    top = sorted(report["importance"].items(), key=lambda kv: -kv[1])[:4]
    return "\n".join(
        [
            f"{report['test_takes']} takes, {report['test_heard_notes']:,} heard notes "
            f"({report['test_matched_notes']:,} matched by onset). {report['data']}",
            "",
            "| note ends | note-with-offset F1 | error of the matched notes' length (mean abs. log ratio) |",
            "| --- | --- | --- |",
            f"| as basic-pitch ends them (the device today) | {f1['heard']:.3f} | {mae['heard']:.3f} |",
            f"| the note-end model | {f1['model']:.3f} | {mae['model']:.3f} |",
            f"| held on by the pedal the MIDI file plays (the pedal known exactly) | {f1['played_pedal']:.3f} | — |",
            "",
            "| matched notes whose end is within the offset tolerance | notes | basic-pitch's ends | the model's |",
            "| --- | --- | --- | --- |",
            *(
                f"| key release {name} | {w['notes']:,} | {w['heard']:.0%} | {w['model']:.0%} |"
                for name, w in (
                    ("held by the pedal", report["within_tolerance"]["held"]),
                    ("not held", report["within_tolerance"]["not_held"]),
                )
                if w["notes"]
            ),
            "",
            f"{report['trees']} trees of {report['leaves']} leaves ({report['bytes']:,} bytes of ONNX), trained on "
            f"{report['train_notes']:,} notes in {report['train_seconds']:.0f} s; features and model "
            f"{report['ms_per_1000_notes']:.1f} ms per 1000 notes on one thread; ONNX Runtime against scikit-learn: "
            f"at most {report['onnx_vs_sklearn_max_difference']:.1e}. The pedal is the one pedal model "
            f"{report['pedal_model']['sha256'][:12]} hears. Most used: "
            + ", ".join(f"{name} ({share:.2f})" for name, share in top)
            + ".",
            "",
        ]
    )


def plot(report: dict, path: Path) -> None:
    plt = pyplot()
    rows = report["per_take"]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter([r["heard"] for r in rows], [r["model"] for r in rows], s=10, label="the note-end model")
    ax.scatter([r["heard"] for r in rows], [r["played_pedal"] for r in rows], s=10, marker="x", label="played pedal")
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    ax.set(
        xlabel="note-with-offset F1, basic-pitch's ends",
        ylabel="note-with-offset F1",
        xlim=(0, 1),
        ylim=(0, 1),
        title="Note ends per held-out take",
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pianocoach_train.note_end_model", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", help="PercePiano folder (default $PIANOCOACH_PERCEPIANO or ../shared/percepiano)")
    parser.add_argument("--takes", type=int, help="only the first N test takes (and 4N training takes)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pedal", type=Path, help="the pedal model (default: make pedal-model's when trained, else the bundle's)"
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "note_end")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    pedal = args.pedal or default_pedal()
    if not pedal.is_file():
        raise SystemExit(f"{pedal}: no pedal model there")
    report, model_bytes, meta = train_and_measure(percepiano_root(args.data), args.takes, args.workers, pedal)
    write_model_run(artifacts_dir() / "note_end", "note_end.onnx", model_bytes, meta)
    write_benchmark(args.out, "note_end", report, markdown, plot)
    print(json.dumps({"offset_f1": report["offset_f1"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
