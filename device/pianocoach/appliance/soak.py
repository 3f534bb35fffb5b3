"""``make soak``: many performances through one daemon process, watching its resident memory.

Each session is a real one: a press through gpiozero's mock pin, the recording replayed block by block,
scoring, the result pages on the image display, espeak-ng into the file sink, a history row, a long
press back to idle. Resident memory (VmRSS) is read after every session; growth is the median of the
last 10 sessions minus the median of the first 10 after the warm-up sessions (first-use caches, the
allocator settling). Runs with the daemon's malloc settings (``pianocoach.appliance.app.MALLOC_ENV``). Writes a
JSON report and a PNG plot of memory per session.

    python -m pianocoach.appliance.soak [--sessions 100] [--input FILE] [--out reports/soak/latest.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from pianocoach.appliance.config import Config
from pianocoach.console import add_verbose_flag, run_command

log = logging.getLogger(__name__)

GOAL_GROWTH_MB = 10.0


def rss_mb() -> float:
    """This process's resident memory (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def soak_config(folder: Path, input_path: Path) -> Config:
    return Config().with_overrides(
        {
            "device.data_dir": str(folder),
            "input.source": "file",
            "input.file": str(input_path),
            "input.realtime": False,
            "input.silence_stop_s": 1.0,
            "display.kind": "image",
            "speech.sink": "file",
            "button.pin_factory": "mock",
        }
    )


def run_soak(sessions: int, input_path: Path, folder: Path, warmup: int = 5, progress: bool = True) -> dict:
    from pianocoach.appliance.driven import DrivenAppliance

    driven = DrivenAppliance(soak_config(folder, input_path))
    memory, seconds, outcomes = [], [], []
    bar = _progress(sessions, progress)
    try:
        for _ in range(sessions):
            started = time.perf_counter()
            driven.wait_state("idle")
            driven.press()
            outcomes.append(driven.wait_state("result", "message", timeout=300))
            driven.daemon.speaker.wait(60)
            driven.long_press()
            driven.wait_state("idle")
            seconds.append(time.perf_counter() - started)
            memory.append(rss_mb())
            bar.update(1)
            bar.set_postfix(rss=f"{memory[-1]:.0f} MB")
        stored = driven.daemon.history.count()
    finally:
        bar.close()
        driven.close()
    # resident memory swings by a few MB from one session to the next (which buffers happen to be
    # mapped): compare the median of the first sessions after warm-up with the median of the last ones
    counted = memory[warmup:] or memory
    window = min(10, max(1, len(counted) // 2))
    base, end = float(np.median(counted[:window])), float(np.median(counted[-window:]))
    return {
        "sessions": sessions,
        "input": input_path.name,
        "scored": outcomes.count("result"),
        "history_rows": stored,
        "warmup_sessions": warmup,
        "window_sessions": window,
        "rss_mb": [round(m, 2) for m in memory],
        "rss_after_warmup_mb": round(base, 2),
        "rss_end_mb": round(end, 2),
        "rss_max_mb": round(max(memory), 2),
        "growth_mb": round(end - base, 2),
        "goal_growth_mb": GOAL_GROWTH_MB,
        "malloc_env": {name: os.environ.get(name) for name in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")},
        "session_s_median": round(float(np.median(seconds)), 2),
    }


def _progress(total: int, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # the device may not have tqdm; a silent stand-in

        class _Quiet:
            def update(self, n):
                pass

            def set_postfix(self, **kw):
                pass

            def close(self):
                pass

        return _Quiet()
    return tqdm(total=total, desc="soak", unit="session", disable=not enabled)


def plot(report: dict, path: Path) -> None:
    """Resident memory per session, with the warm-up end and the +10 MB goal line (Pillow, no matplotlib)."""
    from PIL import Image, ImageDraw, ImageFont

    from pianocoach.appliance.display import find_font

    values = report["rss_mb"]
    path_font = find_font("en")
    font = ImageFont.truetype(path_font, 12) if path_font else ImageFont.load_default(12)
    width, height, left, bottom, top = 640, 320, 60, 40, 30
    low, high = min(values) - 5, max(max(values), report["rss_after_warmup_mb"] + GOAL_GROWTH_MB) + 5
    x = lambda i: left + (width - left - 20) * i / max(1, len(values) - 1)  # noqa: E731
    y = lambda mb: top + (height - top - bottom) * (high - mb) / (high - low)  # noqa: E731
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text(
        (left, 8),
        f"Resident memory per session ({report['input']}, {report['sessions']} sessions): "
        f"growth {report['growth_mb']:+.1f} MB after warm-up",
        fill="black",
        font=font,
    )
    draw.line((left, top, left, height - bottom, width - 20, height - bottom), fill="black")
    for mb in range(int(low) // 10 * 10 + 10, int(high) + 1, 10):
        draw.text((8, y(mb) - 6), f"{mb} MB", fill="gray", font=font)
        draw.line((left - 3, y(mb), left, y(mb)), fill="black")
    goal = report["rss_after_warmup_mb"] + GOAL_GROWTH_MB
    draw.line((x(report["warmup_sessions"] - 1), y(goal), width - 20, y(goal)), fill=(220, 60, 60))
    draw.text((width - 150, y(goal) - 14), "warm-up + 10 MB limit", fill=(220, 60, 60), font=font)
    draw.line([(x(i), y(v)) for i, v in enumerate(values)], fill=(40, 90, 200), width=2)
    draw.text((left, height - bottom + 8), "session 1", fill="black", font=font)
    draw.text((width - 90, height - bottom + 8), f"session {len(values)}", fill="black", font=font)
    temporary = path.with_suffix(".png.tmp")
    image.save(temporary, format="PNG")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach.appliance.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5, help="sessions before memory growth is counted")
    parser.add_argument(
        "--input", type=Path, help="a recording or MIDI file (default: the sample piece rendered, 10 s)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports/soak/latest.json"))
    add_verbose_flag(parser)
    parser.set_defaults(run=_main)
    return run_command(parser.parse_args(argv), "soak")


def _main(args: argparse.Namespace) -> int:
    from pianocoach.jsonio import write_json_atomic
    from pianocoach.render import render_midi
    from pianocoach.sample_piece import write_sample_piece

    logging.getLogger("pianocoach").setLevel(logging.WARNING if not args.verbose else logging.DEBUG)
    with tempfile.TemporaryDirectory(prefix="pianocoach-soak-") as tmp:
        folder = Path(tmp)
        input_path = args.input
        if input_path is None:
            input_path = render_midi(
                write_sample_piece(folder / "sample-piece.mid", seconds=10), folder / "sample-piece.wav"
            )
        report = run_soak(args.sessions, input_path, folder / "appliance", min(args.warmup, args.sessions))
    report["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json_atomic(args.out, report)
    plot(report, args.out.with_suffix(".png"))
    verdict = "within" if report["growth_mb"] < GOAL_GROWTH_MB else "OVER"
    print(
        f"{report['sessions']} sessions ({report['scored']} scored, {report['history_rows']} history rows), "
        f"{report['session_s_median']:.1f} s each: resident memory {report['rss_after_warmup_mb']:.0f} MB after "
        f"{report['warmup_sessions']} warm-up sessions -> {report['rss_end_mb']:.0f} MB at the end (medians of "
        f"{report['window_sessions']} sessions) "
        f"({report['growth_mb']:+.1f} MB, {verdict} the {GOAL_GROWTH_MB:.0f} MB goal); "
        f"max {report['rss_max_mb']:.0f} MB"
    )
    print(f"report: {args.out}, plot: {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    from pianocoach.appliance.app import reexec_with_malloc_settings

    reexec_with_malloc_settings("pianocoach.appliance.soak")  # as the daemon runs
    raise SystemExit(main())
