"""``make bench``: how fast the scoring pipeline runs on one thread, for a 60 s MIDI performance and the
same performance rendered to audio with FluidSynth (both generated here); then the same against length
(``--lengths``, default 1, 5, 20 and 60 minutes): per-block time in the first and the last quarter of the
take, and peak memory, to show that cost per block does not grow with the take.

Each case runs in its own process (``OMP_NUM_THREADS=1``, one ONNX Runtime thread) so its peak memory is
its own. Per block: processing time (median, max); real-time factor = processing time / audio time;
end-to-result = time from the last block to the final result. Writes ``reports/bench/latest.json`` and,
for the lengths, ``reports/bench/lengths.json`` and ``lengths.png``.

    python -m pianocoach.bench [--seconds 60] [--lengths 1,5,20,60] [--out reports/bench/latest.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pianocoach.cli_args import split_list
from pianocoach.sample_piece import write_sample_piece

# goals on this machine's single core (the issues' figures): peak memory for the 60 s case, and for a 60-minute take
GOALS: dict[str, Any] = {
    "audio": {"block_ms": 150.0},
    "midi": {"block_ms": 20.0},
    "end_to_result_ms": 300.0,
    "following_ms": 10.0,  # identifying the piece and following its score, per 2 s block (issue 18)
    "peak_mb": 200.0,
    "peak_mb_60_min": 250.0,
}
# modules that must never load on the device: a JIT compiler (hundreds of MB, minutes of compiling on a Pi)
# and what brings it
JIT_MODULES = ("numba", "llvmlite", "librosa", "resampy")


def run_case(path: Path, bundle: str | None) -> dict:
    """One input through the pipeline, timing every block (runs inside the case's own process). The session
    follows the built-in repertoire, as the device does."""
    from pianocoach.inputs import open_file
    from pianocoach.repertoire.store import Repertoire, load_index
    from pianocoach.scoring import BundleScorer, ScoringSession, SessionSettings, warm_up

    source = open_file(path)
    warm_s = warm_up(source.kind)
    scorer = BundleScorer(bundle, threads=1, inputs=(source.kind,))
    repertoire = load_index(Repertoire(Path(tempfile.gettempdir()) / "pianocoach-bench-no-added-pieces"))
    session = ScoringSession(scorer, source.kind, source.name, SessionSettings(), repertoire=repertoire)
    block_ms, audio_s, rss_mb, following_ms = [], 0.0, [], []
    for block in source.blocks():
        started = time.perf_counter()
        followed = session.timing.following
        session.add(block)
        block_ms.append(1000 * (time.perf_counter() - started))
        following_ms.append(1000 * (session.timing.following - followed))
        audio_s = block.end
        rss_mb.append(_rss_mb())
    started = time.perf_counter()
    followed = session.timing.following
    result = session.finish()
    finish_ms = 1000 * (time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    quarter = max(1, len(block_ms) // 4)
    return {
        "block_ms_first_quarter": round(float(np.median(block_ms[:quarter])), 2),
        "block_ms_last_quarter": round(float(np.median(block_ms[-quarter:])), 2),
        "rss_mb_first_quarter": round(float(np.max(rss_mb[:quarter])), 1),
        "rss_mb_last_quarter": round(float(np.max(rss_mb[-quarter:])), 1),
        "input": source.kind,
        "duration_s": round(audio_s, 2),
        "blocks": len(block_ms),
        "block_ms_median": round(float(np.median(block_ms)), 2),
        "block_ms_max": round(float(np.max(block_ms)), 2),
        "real_time_factor": round((sum(block_ms) + finish_ms) / 1000 / audio_s, 4),
        "end_to_result_ms": round(finish_ms, 1),
        "peak_memory_mb": round(peak_mb, 1),
        "warm_up_s": round(warm_s, 2),
        "timing_s": result.timing,
        "piece": result.piece["title"] if result.piece else None,
        "following_ms_median": round(float(np.median(following_ms)), 2),
        "following_ms_max": round(float(np.max(following_ms)), 2),
        "following_finish_ms": round(1000 * (session.timing.following - followed), 1),
        "overall": result.overall,
        "windows": result.windows,
        "jit_modules_loaded": sorted(name for name in JIT_MODULES if name in sys.modules),
    }


def _rss_mb() -> float:
    """Resident memory now (Linux /proc), in MiB like the peak (``ru_maxrss`` is in KiB)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _check(row: dict) -> dict:
    goal_block = GOALS[row["input"]]["block_ms"]
    return {
        "block": row["block_ms_median"] < goal_block,
        "end_to_result": row["end_to_result_ms"] < GOALS["end_to_result_ms"],
        "memory": row["peak_memory_mb"] <= GOALS["peak_mb"],
        "lean": not row.get("jit_modules_loaded"),
        "following": row["following_ms_max"] <= GOALS["following_ms"],
    }


def table(rows: list[dict]) -> str:
    lines = [
        f"| input | blocks | block ms median / max | goal | real-time factor | end to result ms | peak MB (goal ≤ "
        f"{GOALS['peak_mb']:.0f}) | JIT modules loaded | piece | following ms median / max (goal ≤ "
        f"{GOALS['following_ms']:.0f}) / at the end |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ok = _check(row)
        mark = lambda good: "" if good else " ✗"  # noqa: E731
        lines.append(
            f"| {row['input']} ({row['duration_s']:.0f} s) | {row['blocks']} | {row['block_ms_median']:.1f} / "
            f"{row['block_ms_max']:.1f}{mark(ok['block'])} | < {GOALS[row['input']]['block_ms']:.0f} | "
            f"{row['real_time_factor']:.3f} | {row['end_to_result_ms']:.0f}{mark(ok['end_to_result'])} | "
            f"{row['peak_memory_mb']:.0f}{mark(ok['memory'])} | "
            f"{', '.join(row['jit_modules_loaded']) or 'none'}{mark(ok['lean'])} | {row['piece'] or '-'} | "
            f"{row['following_ms_median']:.2f} / {row['following_ms_max']:.2f}{mark(ok['following'])} / "
            f"{row['following_finish_ms']:.0f} |"
        )
    return "\n".join(lines)


def length_table(rows: list[dict]) -> str:
    lines = [
        "| input | minutes | blocks | block ms median / max | first / last quarter median ms | RSS MB first / last "
        f"quarter | peak MB (goal ≤ {GOALS['peak_mb_60_min']:.0f} at 60 min) | end to result ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        over = row["duration_s"] >= 3600 * 0.99 and row["peak_memory_mb"] > GOALS["peak_mb_60_min"]
        lines.append(
            f"| {row['input']} | {row['duration_s'] / 60:.0f} | {row['blocks']} | {row['block_ms_median']:.1f} / "
            f"{row['block_ms_max']:.1f} | {row['block_ms_first_quarter']:.1f} / {row['block_ms_last_quarter']:.1f} | "
            f"{row['rss_mb_first_quarter']:.0f} / {row['rss_mb_last_quarter']:.0f} | {row['peak_memory_mb']:.0f}"
            f"{' ✗' if over else ''} | {row['end_to_result_ms']:.0f} |"
        )
    return "\n".join(lines)


def plot_lengths(rows: list[dict], path: Path) -> None:
    """Block time and memory against take length, one line per input (when matplotlib is installed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(10, 3.6))
    for kind in sorted({r["input"] for r in rows}):
        mine = [r for r in rows if r["input"] == kind]
        minutes = [r["duration_s"] / 60 for r in mine]
        ax_time.plot(minutes, [r["block_ms_median"] for r in mine], "o-", label=f"{kind}: median")
        ax_time.plot(minutes, [r["block_ms_last_quarter"] for r in mine], "x--", label=f"{kind}: last quarter")
        ax_mem.plot(minutes, [r["peak_memory_mb"] for r in mine], "o-", label=kind)
    ax_time.set(xscale="log", xlabel="take length (minutes)", ylabel="ms per 2 s block", title="time per block")
    ax_mem.set(xscale="log", xlabel="take length (minutes)", ylabel="peak resident MB", title="peak memory")
    ax_mem.set_ylim(bottom=0)
    ax_time.set_ylim(bottom=0)
    for ax in (ax_time, ax_mem):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _run_cases(paths: list[Path], bundle: str | None, env: dict) -> list[dict] | None:
    rows = []
    for path in paths:
        command = [sys.executable, "-m", "pianocoach.bench", "--case", str(path)] + (
            ["--bundle", bundle] if bundle else []
        )
        run = subprocess.run(command, capture_output=True, text=True, env=env)
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return None
        rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated performance")
    parser.add_argument(
        "--lengths",
        default="1,5,20,60",
        help="take lengths in minutes for the length scan (comma-separated; empty: none)",
    )
    parser.add_argument("--bundle", help="bundle folder (default: the installed default bundle)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench/latest.json"))
    parser.add_argument("--case", type=Path, help=argparse.SUPPRESS)  # internal: run one input, print JSON
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.bundle)))
        return 0
    from pianocoach.jsonio import write_json_atomic
    from pianocoach.render import render_midi
    from pianocoach.repertoire.practice_take import write_practice_take

    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    lengths = [float(x) for x in split_list(args.lengths)]
    with tempfile.TemporaryDirectory(prefix="pianocoach-bench-") as tmp:
        midi = write_sample_piece(Path(tmp) / "performance.mid", args.seconds)
        started = time.perf_counter()
        wav = render_midi(midi, Path(tmp) / "performance.wav")
        render_s = time.perf_counter() - started
        minuet = write_practice_take(Path(tmp) / "minuet.mid", "minuet-in-g", seconds=args.seconds)
        minuet_wav = render_midi(minuet, Path(tmp) / "minuet.wav")
        rows = _run_cases([wav, midi, minuet_wav, minuet], args.bundle, env)
        if rows is None:
            return 1
        report = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "threads": 1,
            "goals": GOALS,
            "render_s": round(render_s, 2),
            "machine": f"{os.cpu_count()} cores, {os.uname().machine}",
            "cases": rows,
        }
        write_json_atomic(args.out, report)
        print(table(rows))
        print(f"(FluidSynth rendered the {args.seconds:.0f} s performance in {render_s:.2f} s; report: {args.out})")
        scan = []
        for minutes in lengths:
            print(f"length scan: {minutes:g} minutes (render, then audio and MIDI)", flush=True)
            long_midi = write_sample_piece(Path(tmp) / f"take-{minutes:g}.mid", minutes * 60)
            long_wav = render_midi(long_midi, Path(tmp) / f"take-{minutes:g}.wav")
            found = _run_cases([long_wav, long_midi], args.bundle, env)
            long_wav.unlink()
            if found is None:
                return 1
            scan += found
    if scan:
        scan.sort(key=lambda r: (r["input"], r["duration_s"]))
        lengths_path = args.out.with_name("lengths.json")
        write_json_atomic(
            lengths_path, {"created": report["created"], "machine": report["machine"], "threads": 1, "cases": scan}
        )
        plot_lengths(scan, lengths_path.with_suffix(".png"))
        print(length_table(scan))
        print(f"(report: {lengths_path}, plot: {lengths_path.with_suffix('.png')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
