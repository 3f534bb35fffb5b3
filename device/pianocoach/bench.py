"""``make bench``: how fast the scoring pipeline runs on one thread, for a 60 s MIDI performance and the
same performance rendered to audio with FluidSynth (both generated here).

Each case runs in its own process (``OMP_NUM_THREADS=1``, one ONNX Runtime thread) so its peak memory is
its own. Per block: processing time (median, max); real-time factor = processing time / audio time;
end-to-result = time from the last block to the final result. Writes ``reports/bench/latest.json``.

    python -m pianocoach.bench [--seconds 60] [--out reports/bench/latest.json]
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

import numpy as np

from pianocoach.sample_piece import write_sample_piece

# goals on this machine's single core (the figures)
GOALS = {"audio": {"block_ms": 150.0}, "midi": {"block_ms": 20.0}, "end_to_result_ms": 300.0, "peak_mb": 300.0}


def run_case(path: Path, bundle: str | None) -> dict:
    """One input through the pipeline, timing every block (runs inside the case's own process)."""
    from pianocoach.inputs import open_file
    from pianocoach.scoring import BundleScorer, ScoringSession, SessionSettings, warm_up

    source = open_file(path)
    warm_s = warm_up(source.kind)
    scorer = BundleScorer(bundle, threads=1)
    session = ScoringSession(scorer, source.kind, source.name, SessionSettings())
    block_ms, audio_s = [], 0.0
    for block in source.blocks():
        started = time.perf_counter()
        session.add(block)
        block_ms.append(1000 * (time.perf_counter() - started))
        audio_s = block.end
    started = time.perf_counter()
    result = session.finish()
    finish_ms = 1000 * (time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {
        "input": source.kind, "duration_s": round(audio_s, 2), "blocks": len(block_ms),
        "block_ms_median": round(float(np.median(block_ms)), 2), "block_ms_max": round(float(np.max(block_ms)), 2),
        "real_time_factor": round((sum(block_ms) + finish_ms) / 1000 / audio_s, 4),
        "end_to_result_ms": round(finish_ms, 1), "peak_memory_mb": round(peak_mb, 1), "warm_up_s": round(warm_s, 2),
        "timing_s": result.timing, "overall": result.overall, "windows": result.windows,
    }


def _check(row: dict) -> dict:
    goal_block = GOALS[row["input"]]["block_ms"]
    return {"block": row["block_ms_median"] < goal_block, "end_to_result": row["end_to_result_ms"] < GOALS["end_to_result_ms"],
            "memory": row["peak_memory_mb"] < GOALS["peak_mb"]}


def table(rows: list[dict]) -> str:
    lines = ["| input | blocks | block ms median / max | goal | real-time factor | end to result ms | peak MB |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        ok = _check(row)
        mark = lambda good: "" if good else " ✗"  # noqa: E731
        lines.append(f"| {row['input']} ({row['duration_s']:.0f} s) | {row['blocks']} | {row['block_ms_median']:.1f} / "
                     f"{row['block_ms_max']:.1f}{mark(ok['block'])} | < {GOALS[row['input']]['block_ms']:.0f} | "
                     f"{row['real_time_factor']:.3f} | {row['end_to_result_ms']:.0f}{mark(ok['end_to_result'])} | "
                     f"{row['peak_memory_mb']:.0f}{mark(ok['memory'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated performance")
    parser.add_argument("--bundle", help="bundle folder (default: the installed default bundle)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench/latest.json"))
    parser.add_argument("--case", type=Path, help=argparse.SUPPRESS)  # internal: run one input, print JSON
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.bundle)))
        return 0
    from pianocoach.jsonio import write_json_atomic
    from pianocoach.render import render_midi

    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="pianocoach-bench-") as tmp:
        midi = write_sample_piece(Path(tmp) / "performance.mid", args.seconds)
        started = time.perf_counter()
        wav = render_midi(midi, Path(tmp) / "performance.wav")
        render_s = time.perf_counter() - started
        for path in (wav, midi):
            command = [sys.executable, "-m", "pianocoach.bench", "--case", str(path)] + (["--bundle", args.bundle] if args.bundle else [])
            run = subprocess.run(command, capture_output=True, text=True, env=env)
            if run.returncode != 0:
                print(run.stderr, file=sys.stderr)
                return 1
            rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "threads": 1, "goals": GOALS, "render_s": round(render_s, 2),
              "machine": f"{os.cpu_count()} cores, {os.uname().machine}", "cases": rows}
    write_json_atomic(args.out, report)
    print(table(rows))
    print(f"(FluidSynth rendered the {args.seconds:.0f} s performance in {render_s:.2f} s; report: {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
