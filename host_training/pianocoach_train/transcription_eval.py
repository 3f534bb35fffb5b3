"""``python -m pianocoach_train.transcription_eval``: how well the device's transcriber hears a piano (issue 19,
item 6), the baseline any piano-specific transcriber must beat.

Data: the performer split's test list (PercePiano MIDI files by skilled pianists), rendered with their sustain and
soft pedal through the held-out soundfont (MuseScore General, never used for training) by FluidSynth at the
capture rate, no room, no noise: the easiest audio a microphone could give. Each render is transcribed as a
microphone take is at its end (the device's streaming basic-pitch transcriber, one thread, fed the whole render at
the transcriber's rate; on the device the same transcriber is fed 2 s blocks and gives the same notes, see README
*Transcription*), and compared with its MIDI file (mir_eval):

- note onset F1 (onset within 50 ms, same pitch), and note-with-offset F1 (offset within 20 % of the note or
  50 ms), against the offsets the listener hears: the key release held on to the next sustain-pedal release;
- velocity: mean absolute error of the onset-matched notes, raw and after the best linear map of the device's
  velocities onto the MIDI's (basic-pitch's velocity is an amplitude on its own scale);
- pedal: basic-pitch transcribes none (reported as null, never as 0); the table quotes the pedal model's figures on
  the same takes and soundfont from ``make pedal-model`` (``reports/pedal/pedal.json``);
- cost: transcription milliseconds per 2 s of audio on one thread (this machine), resampling not included.

Writes ``reports/transcription/transcription.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pianocoach.features import DEFAULT_SETTINGS, NoteTable, read_midi
from pianocoach.features.descriptors import sounding_offsets
from pianocoach_train.eval_report import write_benchmark
from pianocoach_train.paths import REPO_ROOT, percepiano_root
from pianocoach_train.percepiano import PercePiano
from pianocoach_train.plots import pyplot, save_figure

log = logging.getLogger(__name__)
ONSET_TOLERANCE_S = 0.05
OFFSET_RATIO = 0.2
BLOCK_SECONDS = 2.0


def heard(table: NoteTable) -> tuple[NoteTable, float]:
    """The device's transcription of the table rendered through the held-out soundfont, and the seconds it took."""
    from pianocoach.features.audio import resample
    from pianocoach.transcription import StreamingTranscriber, notes_to_table
    from pianocoach_train.audio.renders import CAPTURE_RATE, _synth
    from pianocoach_train.audio.soundfonts import HELD_OUT

    audio = resample(_synth(HELD_OUT).render(table), CAPTURE_RATE)  # the features' rate is the transcriber's
    started = time.perf_counter()
    transcriber = StreamingTranscriber(threads=1)
    transcriber.feed(audio)
    found = notes_to_table(transcriber.notes(final=True), "transcription")
    spent = time.perf_counter() - started
    if found is None:
        found = NoteTable.from_arrays([0.0], [0.01], [21], [1])  # nothing heard: one note no take holds
    return found, spent


def compare(truth: NoteTable, found: NoteTable) -> dict:
    """mir_eval's note figures for one take."""
    import mir_eval

    ref = np.c_[truth.onset, np.maximum(sounding_offsets(truth, DEFAULT_SETTINGS.pedal_threshold), truth.onset + 0.01)]
    est = np.c_[found.onset, np.maximum(found.offset, found.onset + 0.01)]
    ref_hz = mir_eval.util.midi_to_hz(truth.pitch.astype(float))
    est_hz = mir_eval.util.midi_to_hz(found.pitch.astype(float))
    onset = mir_eval.transcription.precision_recall_f1_overlap(
        ref, ref_hz, est, est_hz, onset_tolerance=ONSET_TOLERANCE_S, offset_ratio=None
    )
    offset = mir_eval.transcription.precision_recall_f1_overlap(
        ref, ref_hz, est, est_hz, onset_tolerance=ONSET_TOLERANCE_S, offset_ratio=OFFSET_RATIO
    )
    pairs = mir_eval.transcription.match_notes(
        ref, ref_hz, est, est_hz, onset_tolerance=ONSET_TOLERANCE_S, offset_ratio=None
    )
    matched = np.array([(truth.velocity[i], found.velocity[j]) for i, j in pairs], float).reshape(-1, 2)
    return {
        "notes": len(truth),
        "heard": len(found),
        "notes_per_s": len(truth) / max(1e-3, truth.end - truth.start),
        "onset": dict(zip(("precision", "recall", "f1"), (float(v) for v in onset[:3]))),
        "onset_offset": dict(zip(("precision", "recall", "f1"), (float(v) for v in offset[:3]))),
        "velocity_pairs": matched.tolist(),
    }


def velocity_errors(pairs: np.ndarray) -> dict:
    """MAE of matched notes' velocities: raw, and after the least-squares linear map of the heard onto the true."""
    if len(pairs) < 2:
        return {"mae_raw": None, "mae_mapped": None, "mae_constant": None, "pearson": None, "pairs": int(len(pairs))}
    true, found = pairs[:, 0], pairs[:, 1]
    slope, intercept = np.polyfit(found, true, 1)
    return {
        "mae_raw": round(float(np.mean(np.abs(found - true))), 2),
        "mae_mapped": round(float(np.mean(np.abs(slope * found + intercept - true))), 2),
        "mae_constant": round(float(np.mean(np.abs(np.median(true) - true))), 2),  # one guess for every note
        "pearson": round(float(np.corrcoef(found, true)[0, 1]), 3),
        "pairs": int(len(pairs)),
    }


def evaluate(root: Path, limit: int | None = None) -> dict:
    dataset = PercePiano.open(root)
    ids = sorted(i for i in dataset.split("performer").test if i in dataset.midi_files)[:limit]
    takes, pairs, spent, seconds = [], [], 0.0, 0.0
    for ident in tqdm(ids, desc="render + transcribe", unit="take", disable=None):
        truth = read_midi(dataset.midi_files[ident])
        found, took = heard(truth)
        row = compare(truth, found)
        pairs.extend(row.pop("velocity_pairs"))
        takes.append({"id": ident, **row})
        spent += took
        seconds += truth.end
    mean = {
        kind: {k: round(float(np.mean([t[kind][k] for t in takes])), 4) for k in ("precision", "recall", "f1")}
        for kind in ("onset", "onset_offset")
    }
    return {
        "data": "PercePiano performer test list, rendered with pedal through the held-out soundfont "
        "(musescore_general), no room or noise",
        "transcriber": "basic-pitch nmp.onnx, the device's streaming transcriber, one thread",
        "takes": len(takes),
        "mean_over_takes": mean,
        "velocity": velocity_errors(np.asarray(pairs, float).reshape(-1, 2)),
        "pedal_frame_f1": None,  # basic-pitch transcribes no pedal: nothing to measure, not 0
        "pedal_onset_f1": None,
        "ms_per_2s_block": round(1000 * spent / max(1e-9, seconds / BLOCK_SECONDS), 1),
        "per_take": takes,
    }


def markdown(report: dict) -> str:
    m, v = report["mean_over_takes"], report["velocity"]
    lines = [
        f"{report['takes']} takes: {report['data']}. Transcriber: {report['transcriber']}.",
        "",
        "| measure | basic-pitch (the device today) | issue 19 goal |",
        "| --- | --- | --- |",
        f"| note onset F1 (P / R) | {m['onset']['f1']:.3f} ({m['onset']['precision']:.3f} / "
        f"{m['onset']['recall']:.3f}) | ≥ 0.95 |",
        f"| note-with-offset F1 (P / R) | {m['onset_offset']['f1']:.3f} ({m['onset_offset']['precision']:.3f} / "
        f"{m['onset_offset']['recall']:.3f}){_note_end_row()} | ≥ 0.80 |",
        f"| velocity MAE: raw / after a linear map / one constant for every note (r) | {v['mae_raw']} / "
        f"{v['mae_mapped']} / {v['mae_constant']} ({v['pearson']}){_velocity_row()} | ≤ 10 |",
        f"| sustain pedal frame F1, pedal-onset F1 | {_pedal_row()} | ≥ 0.90 |",
        f"| transcription ms per 2 s block, one thread | {report['ms_per_2s_block']} | (whole path ≤ 150) |",
    ]
    return "\n".join(lines) + "\n"


def _pedal_row(report_path: Path = REPO_ROOT / "reports" / "pedal" / "pedal.json") -> str:
    """basic-pitch gives no pedal; the pedal model's figures on the same takes and soundfont (make pedal-model)."""
    if not report_path.is_file():
        return "not transcribed (make pedal-model measures the pedal model)"
    from pianocoach.jsonio import read_json

    pedal = read_json(report_path)
    clean = pedal[pedal["chosen"]]["clean"]
    return (
        f"not transcribed; the pedal model: {clean['frame']['f1']:.3f}, {clean['onset_f1_50ms']:.3f} "
        f"(always down: {clean['always_down_f1']:.3f}; reports/pedal)"
    )


def _note_end_row(report_path: Path = REPO_ROOT / "reports" / "note_end" / "note_end.json") -> str:
    """The note-end model's F1 on the same takes and soundfont (make note-end-model), where it has been measured."""
    if not report_path.is_file():
        return ""
    from pianocoach.jsonio import read_json

    f1 = read_json(report_path)["offset_f1"]["model"]
    return f"; the note-end model: {f1:.3f} (reports/note_end; not yet on the device)"


def _velocity_row(report_path: Path = REPO_ROOT / "reports" / "velocity" / "velocity.json") -> str:
    """basic-pitch's velocities are amplitudes; the velocity model's figures on the same takes and soundfont, from
    the same renders' transcriptions (make velocity-model)."""
    if not report_path.is_file():
        return ""
    from pianocoach.jsonio import read_json

    model = read_json(report_path)["test"]["model"]
    return f"; the velocity model: {model['mae']:.2f} (r {model['r']:.3f}; reports/velocity)"


def plot(report: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    density = [t["notes_per_s"] for t in report["per_take"]]
    ax.scatter(density, [t["onset"]["recall"] for t in report["per_take"]], s=10, label="onset recall")
    ax.scatter(density, [t["onset"]["precision"] for t in report["per_take"]], s=10, marker="x", label="precision")
    ax.set(
        xlabel="notes per second in the take",
        ylabel="share",
        ylim=(0, 1.02),
        title="What basic-pitch hears of a rendered PercePiano take",
    )
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()  # the axis label inside the image
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pianocoach_train.transcription_eval", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", help="PercePiano folder (default $PIANOCOACH_PERCEPIANO or ../shared/percepiano)")
    parser.add_argument("--takes", type=int, help="only the first N takes of the test list (default: all)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "transcription")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = evaluate(percepiano_root(args.data), args.takes)
    write_benchmark(args.out, "transcription", report, markdown, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
