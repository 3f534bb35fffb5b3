"""``python -m pianocoach_train.fundamentals_eval`` (``make eval-fundamentals``): how well the device finds a
learner's mistakes, and how its mark moves with them (issue 18).

Data: PercePiano's performance MIDI files (skilled pianists; score renders left out) with their MusicXML passage
(one edition each, as ``identify_eval``). Each take is aligned with its score as played (the "clean" alignment);
then :mod:`pianocoach_train.mistakes` puts in one kind of mistake at a time with known truth, and the device's
score following and fundamentals run on the result: on the MIDI notes, and (``--audio N``) on N takes rendered
through the held-out soundfont and transcribed by the device's transcriber.

What the clean take's own alignment already reported (a skilled pianist's slip, an ornament the edition does not
write, an aligner's error) is not counted against a mistake put in: a detection is new when the clean take had
no detection of its kind at the same (mapped) time and pitch. How many the clean takes report is listed apart.

Per kind: precision, recall and F1 of detection; for the ones found, the share placed within one bar of the
truth. Writes ``reports/fundamentals/`` (``simulated.json``, ``fundamentals.md``, ``detection.png``,
``mark.png``): also the mark as mistakes are added to clean takes, and on the clean takes of the test split the
correlation of the mark with the listeners' ratings, before (the 19 scales alone) and after (two layers).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pianocoach.features import NoteTable, read_midi
from pianocoach.features.notes import SOFT_CC, SUSTAIN_CC
from pianocoach.jsonio import write_json_atomic
from pianocoach.repertoire.align import Alignment, align
from pianocoach.repertoire.fundamentals import Fundamentals, score_fundamentals, without_common
from pianocoach.repertoire.unfold import PlayedScore, played_score
from pianocoach.repertoire.variants import ScoreVariants
from pianocoach.scoring.following import marked_tempo
from pianocoach_train.identify_eval import load_repertoire, passage_key
from pianocoach_train.mistakes import KINDS, Take, Truth, simulate
from pianocoach_train.paths import REPO_ROOT, percepiano_root
from pianocoach_train.percepiano import PercePiano
from pianocoach_train.percepiano.ids import parse_id
from pianocoach_train.plots import pyplot, save_figure
from pianocoach_train.score_variants import passage_variants

log = logging.getLogger(__name__)
NOTE_KINDS = ("wrong", "missed", "extra")
TOLERANCE_S = {"midi": 0.05, "audio": 0.12}  # a played note found at its time (the transcriber's onsets move)
MISSED_TOLERANCE_S = 0.6  # a missed note is reported when its chord was due: the next note played
EVENT_TOLERANCE_S = {"hesitation": 0.4, "restart": 0.8, "skipped_bar": 0.8}
GOALS = {"midi": {"notes": 0.95, "events": 0.90}, "audio": {"notes": 0.80, "events": 0.90}}


def load_takes(root: Path, every: int = 1) -> list[tuple[str, object, NoteTable]]:
    """(id, score, notes) of each performance with a passage score, every ``every``-th."""
    scores, _ = load_repertoire(root)
    dataset = PercePiano.open(root)
    takes = []
    for raw in sorted(dataset.midi_files)[::every]:
        ident = parse_id(raw)
        if ident.is_score_render or passage_key(ident) not in scores:
            continue
        takes.append((raw, scores[passage_key(ident)], read_midi(dataset.midi_files[raw])))
    return takes


class Detector:
    """The device's score following and fundamentals on MIDI notes, or on their render, transcribed."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._synth = None

    def notes(self, take: Take) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.mode == "midi":
            return take.onset, take.pitch, take.velocity
        table = self._transcribe(take)
        if table is None:
            return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0)
        return table.onset, table.pitch, table.velocity

    def detect(
        self, take: Take, played: PlayedScore, marked: float | None, variants: ScoreVariants | None = None
    ) -> tuple[Alignment, Fundamentals]:
        onset, pitch, velocity = self.notes(take)
        alignment = align(played, onset, pitch, transcribed=self.mode == "audio")
        trusted = velocity.astype(np.float64) if self.mode == "midi" else None
        found = score_fundamentals(alignment, trusted, marked, variants)
        return (without_common(alignment, variants)[0] if variants else alignment), found

    def _transcribe(self, take: Take) -> NoteTable | None:
        from pianocoach.features.audio import resample
        from pianocoach.transcription import StreamingTranscriber, notes_to_table
        from pianocoach_train.audio.renders import CAPTURE_RATE, _synth
        from pianocoach_train.audio.soundfonts import HELD_OUT

        table = NoteTable.from_arrays(take.onset, take.offset, take.pitch, take.velocity)
        audio = _synth(HELD_OUT).render(table)
        transcriber = StreamingTranscriber(threads=1)
        transcriber.feed(resample(audio, CAPTURE_RATE))  # the features' rate is the transcriber's
        return notes_to_table(transcriber.notes(final=True), "transcription")


def detections(alignment: Alignment, found: Fundamentals) -> dict[str, list[tuple[float, int | None, int]]]:
    """What the device reported, by kind: (time, pitch or None, bar position)."""
    played = alignment.played
    positions = {played.bar_number(p): p for p in range(len(played.bar_order) - 1, -1, -1)}
    out: dict[str, list] = defaultdict(list)
    for e in alignment.errors:
        out[e.kind].append((e.time_s, e.pitch, int(played.chord_bar[e.chord]) if e.chord >= 0 else -1))
    for stop in found.stops:
        out["hesitation"].append((stop["time_s"], None, positions.get(stop["bar"], -1)))
    for jump in alignment.jumps:
        if jump.kind == "restart":
            out["restart"].append((jump.time_s, None, positions.get(jump.to_bar, -1)))
        else:
            for bar in jump.bars_skipped:
                out["skipped_bar"].append((jump.time_s, None, positions.get(bar, -1)))
    if found.tempo.get("trend") == "dragging":
        out["dragging"].append((0.0, None, -1))
    return out


def _tolerance(kind: str, mode: str) -> float:
    if kind == "missed":
        return MISSED_TOLERANCE_S
    return EVENT_TOLERANCE_S.get(kind, TOLERANCE_S[mode])


def _same(a: tuple, b: tuple, kind: str, mode: str, tolerance: float | None = None) -> bool:
    if kind == "dragging":
        return True
    within = _tolerance(kind, mode) if tolerance is None else tolerance
    return abs(a[0] - b[0]) <= within and (a[1] is None or b[1] is None or a[1] == b[1])


def score_kind(kind: str, mode: str, truths: list[Truth], found: dict, clean: dict, time_map) -> dict[str, float]:
    """TP / FP / FN of one kind in one take, new detections only; bar placement of the true positives."""
    baseline = [(float(time_map(np.array(t))), p, b) for t, p, b in clean.get(kind, [])]
    # what the clean take reported stays out; a missed note is matched to it at a note's tolerance (a repeated
    # pitch nearby is another note)
    again = TOLERANCE_S[mode] if kind == "missed" else None
    new = [d for d in found.get(kind, []) if not any(_same(d, c, kind, mode, again) for c in baseline)]
    wanted = [(t.time_s, t.pitch, t.bar_position) for t in truths if t.kind == kind]
    tp = near = 0
    unmatched = list(new)
    for truth in wanted:
        hit = next((d for d in unmatched if _same(d, truth, kind, mode)), None)
        if hit is not None:
            unmatched.remove(hit)
            tp += 1
            near += kind == "dragging" or (truth[2] is not None and abs(hit[2] - truth[2]) <= 1)
    return {"tp": tp, "fp": len(unmatched), "fn": len(wanted) - tp, "near": near}


def run_simulation(takes, mode: str, seed: int, variants: dict[str, ScoreVariants]) -> dict:
    detector = Detector(mode)
    totals: dict[str, dict[str, float]] = {k: defaultdict(float) for k in KINDS}
    clean_counts: dict[str, float] = defaultdict(float)
    collateral = defaultdict(list)  # new note errors a non-note mistake brings
    for number, (raw, score, table) in enumerate(tqdm(takes, desc=f"mistakes ({mode})", unit="take")):
        played = played_score(score)
        marked = marked_tempo(score)
        common = variants.get(passage_key(parse_id(raw)))
        take = Take.of(table.onset, table.offset, table.pitch, table.velocity)
        # the truth needs the clean take's alignment with the score: on its MIDI notes
        truth_alignment = align(played, take.onset, take.pitch)
        clean_alignment, clean_found = detector.detect(take, played, marked, common)
        clean = detections(clean_alignment, clean_found)
        for kind, found in clean.items():
            clean_counts[kind] += len(found)
        clean_counts["notes"] += len(take.onset)
        clean_counts["takes"] += 1
        for k, kind in enumerate(KINDS):
            rng = np.random.default_rng([seed, number, k])
            mutated = simulate(take, truth_alignment, kind, rng)
            if not mutated.truths:
                continue
            alignment, found = detector.detect(mutated, played, marked, common)
            got = detections(alignment, found)
            counts = score_kind(kind, mode, mutated.truths, got, clean, mutated.time_map)
            if kind == "dragging":  # the clean takes are the negatives of a take-level call
                counts["fp"] = float(bool(clean.get("dragging")))
            for key, value in counts.items():
                totals[kind][key] += value
            if kind not in NOTE_KINDS:
                extra_errors = sum(score_kind(n, mode, [], got, clean, mutated.time_map)["fp"] for n in NOTE_KINDS)
                collateral[kind].append(extra_errors)
    table_out = {}
    for kind, c in totals.items():
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table_out[kind] = {
            "truths": int(c["tp"] + c["fn"]),
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
            "within_one_bar": round(c["near"] / c["tp"], 3) if c["tp"] else None,
            "note_errors_brought_per_take": round(float(np.mean(collateral[kind])), 2) if collateral[kind] else None,
        }
    per_100 = {k: round(100 * v / clean_counts["notes"], 2) for k, v in clean_counts.items() if k in NOTE_KINDS}
    events = {
        k: round(v / clean_counts["takes"], 3)
        for k, v in clean_counts.items()
        if k not in NOTE_KINDS + ("notes", "takes")
    }
    return {
        "takes": int(clean_counts["takes"]),
        "kinds": table_out,
        "clean_takes": {"note_errors_per_100_notes": per_100, "events_per_take": events},
    }


# -- the mark ------------------------------------------------------------------------------------------------
LEVELS = (0, 1, 2, 3, 4, 5)


def mark_curve(takes, bundle: Path, seed: int, variants: dict[str, ScoreVariants]) -> dict:
    """The mark of clean takes as mistakes are added, level by level on the same take: each level adds 1.5 % of the
    notes wrong, 1.5 % missed and 1.5 % extra, and from level 2 on one or two hesitations (level 0: the clean take).
    ``monotonic_share``: the takes whose mark fell (or stayed) at every level."""
    from pianocoach.repertoire.identify import RepertoireIndex
    from pianocoach.scoring import BundleScorer

    scorer = BundleScorer(bundle)
    marks = np.full((len(takes), len(LEVELS)), np.nan)
    factors = np.full_like(marks, np.nan)
    expression = np.full_like(marks, np.nan)
    for number, (raw, score, table) in enumerate(tqdm(takes, desc="mark curve", unit="take")):
        common = variants.get(passage_key(parse_id(raw)))
        repertoire = RepertoireIndex({"piece": score}, variants={"piece": common} if common else None)
        played = played_score(score)
        rng = np.random.default_rng([seed, number])
        take = Take.of(table.onset, table.offset, table.pitch, table.velocity)
        pedals = [table.pedal_events.copy(), table.soft_pedal_events.copy()]  # moved with the notes they hold
        for level in LEVELS:  # each level keeps the mistakes of the one before and adds more
            for kind in ("wrong", "missed", "extra") if level else ():
                take = simulate(take, align(played, take.onset, take.pitch), kind, rng, rate=0.015)
            if level >= 2:
                take = simulate(take, align(played, take.onset, take.pitch), "hesitation", rng)
                for events in pedals:
                    events[:, 0] = take.time_map(events[:, 0])
                take.truths = []
            result = _score_take(take, scorer, repertoire, pedals)
            if result is not None:
                marks[number, level] = result.overall
                expression[number, level] = result.expression_mark
                factors[number, level] = result.fundamentals["factor"]
    falls = np.all(np.diff(marks, axis=1) <= 1e-9, axis=1)
    return {
        "levels": list(LEVELS),
        "takes": len(takes),
        "mark_mean": [round(float(v), 1) for v in np.nanmean(marks, axis=0)],
        "mark_p10": [round(float(v), 1) for v in np.nanpercentile(marks, 10, axis=0)],
        "mark_p90": [round(float(v), 1) for v in np.nanpercentile(marks, 90, axis=0)],
        "expression_mean": [round(float(v), 1) for v in np.nanmean(expression, axis=0)],
        "factor_mean": [round(float(v), 3) for v in np.nanmean(factors, axis=0)],
        "monotonic_share": round(float(falls.mean()), 3),
    }


def _score_take(take: Take, scorer, repertoire, pedals: list[np.ndarray]):
    """The device's whole pipeline on a take: written to a MIDI file with its sustain and soft pedal (``pedals``:
    their (time, value) events), scored as `pianocoach score --piece` does."""
    import pretty_midi

    from pianocoach.errors import PianoCoachError
    from pianocoach.inputs import open_file
    from pianocoach.scoring import score_source

    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    for onset, offset, pitch, velocity in zip(take.onset, take.offset, take.pitch, take.velocity):
        piano.notes.append(pretty_midi.Note(int(velocity), int(pitch), float(onset), float(max(offset, onset + 0.02))))
    for number, events in zip((SUSTAIN_CC, SOFT_CC), pedals):
        piano.control_changes.extend(pretty_midi.ControlChange(number, int(v), float(t)) for t, v in events)
    midi.instruments.append(piano)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "take.mid"
        midi.write(str(path))
        try:
            return score_source(open_file(path, 2.0, False), scorer, repertoire=repertoire, piece_id="piece")
        except PianoCoachError as exc:
            log.warning("%s", exc)
            return None


def listener_correlation(root: Path, bundle: Path, variants: dict[str, ScoreVariants]) -> dict:
    """On the clean takes of the performer split's test list: Pearson and Spearman r of the 19-scale mark and of
    the two-layer mark with the listeners' mark (the same formula on their mean ratings)."""
    from scipy.stats import pearsonr, spearmanr

    from pianocoach.inputs import open_file
    from pianocoach.rating_scales import overall_mark
    from pianocoach.repertoire.identify import RepertoireIndex
    from pianocoach.scoring import BundleScorer, score_source

    dataset = PercePiano.open(root)
    test = set(dataset.split("performer").test)
    labels = dataset.labels
    scores, _ = load_repertoire(root)
    scorer = BundleScorer(bundle)
    rows = []
    for raw in tqdm(sorted(test), desc="listeners", unit="take"):
        ident = parse_id(raw)
        if raw not in dataset.midi_files or raw not in labels or passage_key(ident) not in scores:
            continue
        # the performance's own file, pedal and all, as `pianocoach score --piece` reads it
        source = open_file(dataset.midi_files[raw], 2.0, False)
        common = variants.get(passage_key(ident))
        repertoire = RepertoireIndex(
            {"piece": scores[passage_key(ident)]}, variants={"piece": common} if common else None
        )
        result = score_source(source, scorer, repertoire=repertoire, piece_id="piece")
        rows.append((overall_mark(list(labels[raw])), result.expression_mark, result.overall))
    values = np.asarray(rows)
    out: dict = {"takes": len(rows)}
    for name, column in (("expression_mark", 1), ("two_layer_mark", 2)):
        out[name] = {
            "pearson": round(float(pearsonr(values[:, 0], values[:, column])[0]), 3),
            "spearman": round(float(spearmanr(values[:, 0], values[:, column])[0]), 3),
        }
    out["two_layer_minus_expression_ci95"] = _paired_difference_ci(values)
    return out


def _paired_difference_ci(values: np.ndarray, draws: int = 2000) -> dict:
    """95 % bootstrap interval (takes drawn with replacement, seeded) of the two-layer mark's r with the listeners
    minus the expression mark's, Pearson and Spearman: is "not worse" within the noise of 193 takes?"""
    from scipy.stats import pearsonr, spearmanr

    rng = np.random.default_rng(0)
    diffs: dict[str, list[float]] = {"pearson": [], "spearman": []}
    for _ in range(draws):
        v = values[rng.integers(0, len(values), len(values))]
        diffs["pearson"].append(pearsonr(v[:, 0], v[:, 2])[0] - pearsonr(v[:, 0], v[:, 1])[0])
        diffs["spearman"].append(spearmanr(v[:, 0], v[:, 2])[0] - spearmanr(v[:, 0], v[:, 1])[0])
    return {k: [round(float(q), 3) for q in np.percentile(d, [2.5, 97.5])] for k, d in diffs.items()}


# -- the report ----------------------------------------------------------------------------------------------
def write_report(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "simulated.json", report)
    (out / "fundamentals.md").write_text(markdown(report), encoding="utf-8")
    _detection_plot(report, out / "detection.png")
    if "mark_curve" in report:
        _mark_plot(report["mark_curve"], out / "mark.png")


def markdown(report: dict) -> str:
    lines = ["# Fundamentals: simulated mistakes in PercePiano takes", ""]
    for mode in ("midi", "audio"):
        if mode not in report:
            continue
        data = report[mode]
        source = "MIDI notes" if mode == "midi" else "renders (held-out soundfont) transcribed by the device"
        lines += [f"## {source}: {data['takes']} takes", ""]
        lines += [
            "| mistake | truths | precision | recall | F1 | goal | within one bar | note errors it brings / take |"
        ]
        lines += ["| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for kind, row in data["kinds"].items():
            goal = (
                GOALS[mode]["notes" if kind in NOTE_KINDS else "events"]
                if kind in NOTE_KINDS + ("hesitation", "restart")
                else "-"
            )
            lines.append(
                f"| {kind} | {row['truths']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {goal} "
                f"| {_maybe(row['within_one_bar'])} | {_maybe(row['note_errors_brought_per_take'])} |"
            )
        clean = data["clean_takes"]
        lines += [
            "",
            f"On the clean takes the device reports per 100 notes: {clean['note_errors_per_100_notes']}; per take: "
            f"{clean['events_per_take']} (skilled pianists' slips, ornaments the edition does not write, and the "
            "aligner's own errors).",
            "",
        ]
    if "mark_curve" in report:
        c = report["mark_curve"]
        lines += ["## The mark as mistakes are added", ""]
        lines += [
            "| level | mark (mean) | p10 | p90 | expression mark | fundamentals factor |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for i, level in enumerate(c["levels"]):
            lines.append(
                f"| {level} | {c['mark_mean'][i]} | {c['mark_p10'][i]} | {c['mark_p90'][i]} | "
                f"{c['expression_mean'][i]} | {c['factor_mean'][i]} |"
            )
        lines += [
            "",
            f"The mark falls (or stays) at every added level in {100 * c['monotonic_share']:.0f} % of "
            f"{c['takes']} takes.",
            "",
        ]
    if "listeners" in report:
        r = report["listeners"]
        lines += [
            "## Clean takes against the listeners (performer split, test list)",
            "",
            f"{r['takes']} takes, each scored from its own MIDI file (pedal included). 19-scale mark: Pearson "
            f"{r['expression_mark']['pearson']}, Spearman {r['expression_mark']['spearman']}; two-layer mark: Pearson "
            f"{r['two_layer_mark']['pearson']}, Spearman {r['two_layer_mark']['spearman']}.",
            "",
        ]
        if "two_layer_minus_expression_ci95" in r:
            ci = r["two_layer_minus_expression_ci95"]
            lines += [
                f"Two-layer minus 19-scale, 95 % bootstrap interval: Pearson {ci['pearson']}, Spearman "
                f"{ci['spearman']}.",
                "",
            ]
    return "\n".join(lines)


def _maybe(value) -> str:
    return "-" if value is None else f"{value}"


def _detection_plot(report: dict, path: Path) -> None:
    plt = pyplot()
    modes = [m for m in ("midi", "audio") if m in report]
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 3.6), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        kinds = list(report[mode]["kinds"])
        x = np.arange(len(kinds))
        for offset, metric in ((-0.25, "precision"), (0.0, "recall"), (0.25, "f1")):
            ax.bar(x + offset, [report[mode]["kinds"][k][metric] for k in kinds], 0.25, label=metric)
        ax.set_xticks(x, kinds, rotation=30, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{mode}: {report[mode]['takes']} PercePiano takes, mistakes put in")
        ax.axhline(GOALS[mode]["notes"], color="grey", lw=0.8, ls="--")
        ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, path)


def _mark_plot(curve: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    levels = curve["levels"]
    ax.fill_between(levels, curve["mark_p10"], curve["mark_p90"], alpha=0.2, label="mark, p10-p90")
    ax.plot(levels, curve["mark_mean"], marker="o", label="mark (two layers)")
    ax.plot(levels, curve["expression_mean"], marker="s", label="expression mark (19 scales)")
    ax.plot(levels, [100 * f for f in curve["factor_mean"]], ls="--", label="fundamentals factor x 100")
    ax.set_xlabel("level (each: +1.5 % wrong, missed, extra notes; a stop from 2 on)")
    ax.set_ylabel("0-100")
    ax.set_ylim(0, 100)
    ax.set_title(f"The mark as mistakes are added ({curve['takes']} PercePiano takes)")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="PercePiano (default: $PERCEPIANO_ROOT or ../shared/percepiano)")
    parser.add_argument("--every", type=int, default=1, help="take every n-th performance (default: all)")
    parser.add_argument("--audio", type=int, default=40, help="takes rendered and transcribed (0: none)")
    parser.add_argument("--mark-takes", type=int, default=40, help="takes for the mark curve (0: none)")
    parser.add_argument("--no-listeners", action="store_true", help="skip the correlation with the listeners")
    parser.add_argument("--no-variants", action="store_true", help="score without the passages' learned variants")
    parser.add_argument("--bundle", type=Path, default=REPO_ROOT / "device/pianocoach/data/default_bundle")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports/fundamentals")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    root = args.data or percepiano_root()
    started = time.perf_counter()
    takes = load_takes(root, args.every)
    variants = passage_variants(root) if not args.no_variants else {}
    report: dict = {
        "data": "PercePiano performance MIDI (score renders left out) with their MusicXML passages",
        "variants": "learned from the performer split's train and validation takes" if variants else "none",
    }
    report["midi"] = run_simulation(takes, "midi", args.seed, variants)
    write_report(report, args.out)  # each stage is written as it ends: a later failure keeps the earlier ones
    if args.audio:
        spread = takes[:: max(1, len(takes) // args.audio)][: args.audio]
        report["audio"] = run_simulation(spread, "audio", args.seed, variants)
        write_report(report, args.out)
    if args.mark_takes:
        report["mark_curve"] = mark_curve(
            takes[:: max(1, len(takes) // args.mark_takes)][: args.mark_takes], args.bundle, args.seed, variants
        )
        write_report(report, args.out)
    if not args.no_listeners:
        report["listeners"] = listener_correlation(root, args.bundle, variants)
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_report(report, args.out)
    print(markdown(report))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
