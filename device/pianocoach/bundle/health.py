"""``python -m pianocoach.bundle.health BUNDLE``: the install's health check, run in its own process.

Scores a short built-in clip (the generated sample piece, 12 s of MIDI) with the bundle as the appliance
would, and checks what comes out: 19 finite scale values inside the label range (1/7..1, with a
margin of 0.1 for a regression's overshoot), an overall mark within 0..100, and at least one scored
window. Prints one JSON line; exit status 0 when healthy, 1 (and the reason on stderr) when not.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from pianocoach.scales import HIGH, LOW

MARGIN = 0.1
CLIP_SECONDS = 12.0


def health_check(bundle: Path, data_dir: Path) -> dict:
    from pianocoach.bundle.store import device_keys
    from pianocoach.inputs import open_file
    from pianocoach.sample_piece import write_sample_piece
    from pianocoach.scoring import BundleScorer, SessionSettings, score_source

    scorer = BundleScorer(bundle, keys=device_keys(data_dir))
    with tempfile.TemporaryDirectory(prefix="pianocoach-health-") as tmp:
        clip = write_sample_piece(Path(tmp) / "clip.mid", seconds=CLIP_SECONDS)
        result = score_source(open_file(clip), scorer, SessionSettings())
    values = result.scale_values
    problems = []
    if len(values) != 19:
        problems.append(f"{len(values)} scale values, expected 19")
    bad = [v for v in values if not math.isfinite(v) or not LOW - MARGIN <= v <= HIGH + MARGIN]
    if bad:
        problems.append(f"{len(bad)} scale values outside {LOW - MARGIN:.2f}..{HIGH + MARGIN:.2f} (e.g. {bad[0]:.3g})")
    if not 0.0 <= result.overall <= 100.0:
        problems.append(f"overall mark {result.overall} outside 0..100")
    if result.windows < 1:
        problems.append("no window scored")
    return {"bundle_id": result.bundle_id, "healthy": not problems, "problems": problems, "windows": result.windows,
            "overall": result.overall, "scale_range": [round(min(values), 4), round(max(values), 4)] if values else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach.bundle.health", description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path("/var/lib/pianocoach"), help="for its trusted_keys/")
    args = parser.parse_args(argv)
    from pianocoach.errors import PianoCoachError

    try:
        report = health_check(args.bundle, args.data_dir)
    except PianoCoachError as exc:
        print(f"{args.bundle}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    if not report["healthy"]:
        print(f"{args.bundle}: unhealthy: {'; '.join(report['problems'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
