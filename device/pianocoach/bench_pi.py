"""``make bench-pi`` (root): the block times a Raspberry Pi core would see, from this machine.

Each bench case (:mod:`pianocoach.bench`: the 60 s performance as audio and as MIDI) runs on one core throttled to a
Pi's speed by a CPU cgroup quota (``cpu.cfs_quota_us`` / ``cpu.max``, a 10 ms period). The quota is the Pi core's
speed over this core's, measured two ways against published figures, because the pipeline mixes both kinds of work:

- **floating point** (ONNX Runtime's convolutions, numpy's FFTs): HPL, per core (Jeff Geerling's sbc-reviews:
  Pi 4 11.774 GFLOPS and Pi 5 37.888 GFLOPS on four cores, OpenBLAS), against numpy's float64 matrix product on
  one thread here (OpenBLAS's DGEMM, which HPL spends its time in);
- **integer** (tree ensembles, the Python around them): 7-Zip's LZMA benchmark, one thread (Thomas Kaiser's
  sbc-bench, p7zip 16.02: Pi 4 at 1.8 GHz 1,769 MIPS, run 3OBF; Pi 5 at 2.4 GHz 3,163 MIPS, run 4HDw), against
  ``7za b -mmt1`` here (its rating per CPU usage, so a busy machine still measures its core; Debian's p7zip-full
  is 7-Zip 26 under the old name: the rating is the same LZMA measure, not the same build).

Both are CPU time, not wall time, so a busy machine still calibrates. A share above 1 (the Pi core faster than this
one by that measure) runs unthrottled and says so. This is an envelope, not a Pi: memory bandwidth, caches and
NEON against AVX differ. Writes ``reports/bench/pi.json``.

    python -m pianocoach.bench_pi [--seconds 60] [--bundle DIR] [--out reports/bench/pi.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# published per-core figures (see the module's docstring for the sources)
BOARDS = {
    "Raspberry Pi 4 (Cortex-A72, 1.8 GHz)": {"hpl_gflops_per_core": 11.774 / 4, "lzma_mips": 1769.0},
    "Raspberry Pi 5 (Cortex-A76, 2.4 GHz)": {"hpl_gflops_per_core": 37.888 / 4, "lzma_mips": 3163.0},
}
PERIOD_US = 10_000  # a short period: a 100 ms block is throttled evenly, not in one 100 ms stall
CGROUP = "pianocoach-bench-pi"
CPU = (os.cpu_count() or 1) - 1  # the cases run on the last CPU
DGEMM_N = 1024
DGEMM_SCRIPT = f"""
import time, numpy as np
a = np.random.default_rng(0).standard_normal(({DGEMM_N}, {DGEMM_N}))
a @ a
runs, started = 0, time.process_time()
while time.process_time() - started < 2.0:
    a @ a
    runs += 1
print(runs * 2 * {DGEMM_N}**3 / (time.process_time() - started) / 1e9)
"""


def single_thread_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def host_gflops() -> float:
    """numpy's float64 matrix product on one thread, GFLOPS per second of CPU time."""
    run = subprocess.run(
        [sys.executable, "-c", DGEMM_SCRIPT], capture_output=True, text=True, env=single_thread_env(), check=True
    )
    return float(run.stdout.strip().splitlines()[-1])


def host_lzma_mips() -> float | None:
    """7-Zip's one-thread LZMA rating per CPU usage ("Tot:" row, R/U column); None without 7za."""
    seven = shutil.which("7za") or shutil.which("7z")
    if seven is None:
        return None
    run = subprocess.run([seven, "b", "-mmt1"], capture_output=True, text=True, timeout=600)
    found = re.search(r"^Tot:\s+(\d+)\s+(\d+)\s+(\d+)", run.stdout, re.MULTILINE)
    return float(found.group(2)) if found else None


class CpuCgroup:
    """A CPU cgroup (v1 ``cpu`` controller or v2 ``cpu.max``) holding ``share`` of one core."""

    def __init__(self, share: float) -> None:
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        self.folder = Path("/sys/fs/cgroup") / CGROUP if v2.exists() else Path("/sys/fs/cgroup/cpu") / CGROUP
        self.folder.mkdir(exist_ok=True)
        quota = max(1000, int(share * PERIOD_US))
        if v2.exists():
            (self.folder / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
        else:
            (self.folder / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
            (self.folder / "cpu.cfs_quota_us").write_text(f"{quota}\n")

    def enter(self) -> None:
        """Move the calling process into the cgroup, on one CPU (run in the case's child before it starts)."""
        (self.folder / "cgroup.procs").write_text(f"{os.getpid()}\n")
        os.sched_setaffinity(0, {CPU})

    def remove(self) -> None:
        try:
            self.folder.rmdir()
        except OSError:
            pass


def run_case(path: Path, bundle: str | None, share: float | None) -> dict:
    """One bench case in its own process, in a cgroup of ``share`` of a core (None: unthrottled), on :data:`CPU`."""
    command = [sys.executable, "-m", "pianocoach.bench", "--case", str(path)] + (["--bundle", bundle] if bundle else [])
    group = CpuCgroup(share) if share is not None and share < 1.0 else None
    enter = group.enter if group else (lambda: os.sched_setaffinity(0, {CPU}))
    try:
        run = subprocess.run(
            command, capture_output=True, text=True, env=single_thread_env(), preexec_fn=enter, check=False
        )
    finally:
        if group:
            group.remove()
    if run.returncode != 0:
        raise RuntimeError(f"bench case {path.name} failed: {run.stderr.strip()[-400:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach.bench_pi", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated performance")
    parser.add_argument("--bundle", help="bundle folder (default: the installed default bundle)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench/pi.json"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_pi: run as root (it makes a CPU cgroup to throttle the cases)", file=sys.stderr)
        return 2
    from pianocoach.jsonio import write_json_atomic
    from pianocoach.render import render_midi
    from pianocoach.sample_piece import write_sample_piece

    gflops, mips = host_gflops(), host_lzma_mips()
    print(f"this core: {gflops:.1f} GFLOPS (numpy DGEMM, one thread), {mips or float('nan'):.0f} MIPS (7-Zip LZMA)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pianocoach-bench-pi-") as tmp:
        midi = write_sample_piece(Path(tmp) / "performance.mid", args.seconds)
        takes = {"audio": render_midi(midi, Path(tmp) / "performance.wav"), "midi": midi}
        targets: list[tuple[str, str, float | None]] = [("this machine", "-", None)]
        for board, figures in BOARDS.items():
            targets.append((board, "floating point (HPL / DGEMM)", figures["hpl_gflops_per_core"] / gflops))
            if mips:
                targets.append((board, "integer (7-Zip LZMA)", figures["lzma_mips"] / mips))
        for board, measure, share in targets:
            for kind, take in takes.items():
                case = run_case(take, args.bundle, share)
                rows.append(
                    {
                        "board": board,
                        "calibration": measure,
                        "share_of_this_core": None if share is None else round(share, 3),
                        "input": kind,
                        "block_ms_median": case["block_ms_median"],
                        "block_ms_max": case["block_ms_max"],
                        "real_time_factor": case["real_time_factor"],
                        "end_to_result_ms": case["end_to_result_ms"],
                        "overall": case["overall"],
                    }
                )
                print(
                    f"{board}, {measure} (share {'-' if share is None else f'{share:.2f}'}): {kind} block "
                    f"{case['block_ms_median']:.0f} ms median, {case['block_ms_max']:.0f} max, real-time factor "
                    f"{case['real_time_factor']:.3f}, end to result {case['end_to_result_ms']:.0f} ms",
                    flush=True,
                )
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}",
        "this_core": {"dgemm_gflops": round(gflops, 2), "lzma_mips": mips},
        "boards": BOARDS,
        "period_us": PERIOD_US,
        "rows": rows,
    }
    write_json_atomic(args.out, report)
    print(table(rows))
    print(f"(report: {args.out})")
    return 0


def table(rows: list[dict]) -> str:
    lines = [
        "| board | calibration | share of this core | input | block ms median / max | real-time factor | "
        "end to result ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        share = r["share_of_this_core"]
        shown = "1 (unthrottled)" if share is None else (f"{share:.2f}" + (" (unthrottled)" if share >= 1 else ""))
        lines.append(
            f"| {r['board']} | {r['calibration']} | {shown} | {r['input']} | {r['block_ms_median']:.0f} / "
            f"{r['block_ms_max']:.0f} | {r['real_time_factor']:.3f} | {r['end_to_result_ms']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
