"""``python -m pianocoach_train.offset_analysis``: why the device's note ends are wrong (issue 19: note-with-offset
F1 0.20 against a goal of 0.80), and what the sustain pedal could give back, before any note-end model is built.

Data: the performer test list rendered through the held-out soundfont (MuseScore General), clean, as
``make audio-render`` keeps it (the notes basic-pitch heard and the sound profile's frames; nothing is transcribed
again). Renders, not a real piano: FluidSynth plays each soundfont's release samples, whose tails a real piano's
dampers may cut shorter.

For each take, against the offsets the listener hears (the key release held on to the next sustain-pedal release,
as ``make eval-transcription``), mir_eval's note-with-offset F1 of:

- ``heard``: the notes as basic-pitch ends them (the device today);
- ``played_pedal``: the same notes held on by the pedal the MIDI file plays (an upper bound for extending the heard
  notes by a pedal: the pedal known exactly);
- ``heard_pedal``: held on by the pedal the bundle's pedal model hears in the same render.

And, over the notes matched by onset, the heard duration against the sounding one, apart for notes whose key release
the pedal holds and notes it does not. Writes ``reports/transcription/offsets.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pianocoach.features import DEFAULT_SETTINGS, NoteTable
from pianocoach.features.descriptors import sounding_offsets
from pianocoach_train.eval_report import write_benchmark
from pianocoach_train.paths import REPO_ROOT, percepiano_root
from pianocoach_train.plots import pyplot, save_figure
from pianocoach_train.transcription_eval import OFFSET_RATIO, ONSET_TOLERANCE_S

log = logging.getLogger(__name__)
CONDITIONS = ("heard", "played_pedal", "heard_pedal")
RATIO_BINS = np.linspace(-4.0, 4.0, 33)  # log2(heard / sounding duration)


def held_on(heard: NoteTable, pedal_events: np.ndarray) -> np.ndarray:
    """The heard notes' ends held on to the next release of ``pedal_events`` (CC64 rows: time, value)."""
    return sounding_offsets(
        replace(heard, pedal_events=np.asarray(pedal_events, float).reshape(-1, 2)), DEFAULT_SETTINGS.pedal_threshold
    )


def take_figures(played: NoteTable, heard: NoteTable, heard_pedal: np.ndarray) -> dict:
    """Note-with-offset F1 of each condition, and the matched notes' durations (sounding, heard, pedal-held)."""
    import mir_eval

    sounding = sounding_offsets(played, DEFAULT_SETTINGS.pedal_threshold)
    ref = np.c_[played.onset, np.maximum(sounding, played.onset + 0.01)]
    ref_hz = mir_eval.util.midi_to_hz(played.pitch.astype(float))
    est_hz = mir_eval.util.midi_to_hz(heard.pitch.astype(float))
    ends = {
        "heard": heard.offset,
        "played_pedal": held_on(heard, played.pedal_events),
        "heard_pedal": held_on(heard, heard_pedal),
    }
    f1 = {}
    for name, end in ends.items():
        est = np.c_[heard.onset, np.maximum(end, heard.onset + 0.01)]
        f1[name] = mir_eval.transcription.precision_recall_f1_overlap(
            ref, ref_hz, est, est_hz, onset_tolerance=ONSET_TOLERANCE_S, offset_ratio=OFFSET_RATIO
        )[2]
    pairs = mir_eval.transcription.match_notes(
        ref,
        ref_hz,
        np.c_[heard.onset, heard.offset + 0.01],
        est_hz,
        onset_tolerance=ONSET_TOLERANCE_S,
        offset_ratio=None,
    )
    truth, found = (np.array(c, dtype=np.int64) for c in zip(*pairs)) if pairs else (np.zeros(0, int),) * 2
    return {
        "offset_f1": {k: float(v) for k, v in f1.items()},
        "sounding_s": (sounding[truth] - played.onset[truth]).tolist(),
        "heard_s": (heard.offset[found] - heard.onset[found]).tolist(),
        "pedal_held": (sounding[truth] > played.offset[truth] + 1e-6).tolist(),
    }


def duration_summary(sounding: np.ndarray, heard: np.ndarray) -> dict:
    """How the heard durations stand to the sounding ones."""
    if not len(sounding):
        return {"notes": 0}
    within = np.abs(heard - sounding) <= np.maximum(0.05, OFFSET_RATIO * sounding)  # mir_eval's offset tolerance
    return {
        "notes": int(len(sounding)),
        "median_heard_over_sounding": round(float(np.median(heard / np.maximum(sounding, 1e-3))), 2),
        "within_tolerance": round(float(within.mean()), 3),
        "heard_longer": round(float(np.mean(heard > sounding)), 3),
    }


def evaluate(root: Path, bundle: Path | None = None, limit: int | None = None, progress: bool = True) -> dict:
    from pianocoach.scoring import BundleScorer
    from pianocoach.scoring.pedal_model import pedal_from_probabilities
    from pianocoach_train.audio.renders import RenderJob, load_render, played_table, rendered_manifest
    from pianocoach_train.audio.soundfonts import HELD_OUT
    from pianocoach_train.percepiano import PercePiano
    from pianocoach_train.velocity_model import heard_table

    dataset = PercePiano.open(root)
    scorer = BundleScorer(bundle, threads=1)
    if scorer.pedal_model is None:
        raise SystemExit(f"{scorer.path}: the bundle has no pedal model to hear the pedal with")
    seed = int(rendered_manifest(HELD_OUT).get("seed", 0))
    ids = sorted(dataset.split("performer").test)[:limit]
    rows, sounding, heard_s, held = [], [], [], []
    for ident in tqdm(ids, desc="note ends", unit="take", disable=not progress or None):
        render = load_render(HELD_OUT, ident)
        if "heard_notes" not in render:
            raise SystemExit(f"{HELD_OUT}/{ident}: rendered before the heard notes were kept (make audio-render)")
        played, _ = played_table(RenderJob(ident, str(dataset.midi_files[ident]), HELD_OUT, seed, transcribe=True))
        heard = heard_table(render["heard_notes"])
        if heard is None or not len(played):
            continue
        bands = render["profile_bands"].astype(np.float32)[None]
        # one run over the take: the device's chunked tracker gives the same probabilities (README, the pedal heard)
        pedal = pedal_from_probabilities(scorer.pedal_model.run(bands))
        figures = take_figures(played, heard, pedal.events)
        rows.append({"ident": ident, **figures["offset_f1"]})
        sounding += figures["sounding_s"]
        heard_s += figures["heard_s"]
        held += figures["pedal_held"]
    s, h, p = np.asarray(sounding), np.asarray(heard_s), np.asarray(held, bool)
    return {
        "data": f"performer test list ({len(rows)} takes), {HELD_OUT} renders (clean), the notes make audio-render "
        "kept; renders, not a real piano",
        "bundle": scorer.bundle_id,
        "takes": len(rows),
        "offset_f1": {c: round(float(np.mean([r[c] for r in rows])), 3) for c in CONDITIONS},
        "durations": {
            "all": duration_summary(s, h),
            "key release held by the pedal": duration_summary(s[p], h[p]),
            "key release not held": duration_summary(s[~p], h[~p]),
        },
        "log2_ratio_histogram": {
            "bins": RATIO_BINS.tolist(),
            "held": np.histogram(np.log2(h[p] / np.maximum(s[p], 1e-3)), RATIO_BINS)[0].tolist(),
            "not_held": np.histogram(np.log2(h[~p] / np.maximum(s[~p], 1e-3)), RATIO_BINS)[0].tolist(),
        },
        "per_take": rows,
    }


def markdown(report: dict) -> str:
    f1 = report["offset_f1"]
    lines = [
        f"{report['takes']} takes: {report['data']}. Pedal heard by bundle {report['bundle']}'s pedal model.",
        "",
        "| note ends | note-with-offset F1 |",
        "| --- | --- |",
        f"| as basic-pitch ends them (the device) | {f1['heard']:.3f} |",
        f"| held on by the pedal the MIDI file plays (the pedal known exactly) | {f1['played_pedal']:.3f} |",
        f"| held on by the pedal the pedal model hears | {f1['heard_pedal']:.3f} |",
        "",
        "| matched notes | notes | heard / sounding duration (median) | heard longer | within the offset tolerance |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, d in report["durations"].items():
        if d["notes"]:
            lines.append(
                f"| {name} | {d['notes']:,} | {d['median_heard_over_sounding']:.2f} | {d['heard_longer']:.0%} | "
                f"{d['within_tolerance']:.0%} |"
            )
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    plt = pyplot()
    hist = report["log2_ratio_histogram"]
    bins = np.asarray(hist["bins"])
    centres = (bins[:-1] + bins[1:]) / 2
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in (("not_held", "key release not held by the pedal"), ("held", "held by the pedal")):
        counts = np.asarray(hist[key], float)
        ax.step(centres, counts / max(1.0, counts.sum()), where="mid", label=label)
    ax.axvspan(np.log2(1 - OFFSET_RATIO), np.log2(1 + OFFSET_RATIO), color="0.85", label="within 20 %")
    ax.set(
        xlabel="log2(heard duration / sounding duration)",
        ylabel="share of matched notes",
        title="How long basic-pitch hears each note (held-out renders)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pianocoach_train.offset_analysis", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", help="PercePiano folder (default $PIANOCOACH_PERCEPIANO or ../shared/percepiano)")
    parser.add_argument("--bundle", type=Path, help="bundle whose pedal model hears the pedal (default: the default)")
    parser.add_argument("--takes", type=int, help="only the first N takes of the test list (default: all)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "transcription")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = evaluate(percepiano_root(args.data), args.bundle, args.takes)
    write_benchmark(args.out, "offsets", report, markdown, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
