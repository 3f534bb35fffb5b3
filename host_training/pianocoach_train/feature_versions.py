"""Compare the features this checkout computes with those of another revision, on PercePiano.

For a feature version whose code changed but whose numbers should not have (a port, a refactor): the
descriptor vector of every PercePiano MIDI file, and the audio feature blocks and transcription vector of
performances rendered as for training (soundfonts in turn, augmented ones included), computed by both
revisions on the same audio (a FluidSynth render depends on the synthesizer's state, so each is rendered
once and handed to both). The other revision is checked out in a temporary git worktree and run in its
own process with its own ``device/`` and ``host_training/`` on the path.

    python -m pianocoach_train.feature_versions --against REV [--performances 24] [--data PATH] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from pianocoach.console import add_verbose_flag, run_command
from pianocoach_train.paths import PERCEPIANO_ENV, REPO_ROOT, percepiano_root

log = logging.getLogger(__name__)

SOUNDFONTS = ("musescore_general", "fluidr3_gm", "timgm6mb")
AUDIO_KINDS = ("mel", "contour", "rhythm", "transcription")

# Runs inside one revision: its own code first on the path (argv: root, out.npz, data root, audio .npy files)
_COMPUTE = r"""
import sys
root, out, data, audio_files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
sys.path[:0] = [root + "/device", root + "/host_training"]
import numpy as np
import pianocoach
assert pianocoach.__file__.startswith(root), pianocoach.__file__
from pathlib import Path
from pianocoach.features import DEFAULT_SETTINGS, feature_vector, read_midi
from pianocoach.features.audio import performance_features, stack_blocks
from pianocoach_train.audio.renders import transcription_vector
arrays = {"midi": np.stack([feature_vector(read_midi(f)) for f in sorted(Path(data, "midi").glob("*.mid"))])}
for i, path in enumerate(audio_files):
    audio = np.load(path)
    blocks = stack_blocks(performance_features(audio, 44100))
    for kind in ("mel", "contour", "rhythm"):
        arrays[f"{i}:{kind}"] = blocks[kind]
    arrays[f"{i}:transcription"] = transcription_vector(audio, 44100)
np.savez(out, **arrays)
print(DEFAULT_SETTINGS.version, DEFAULT_SETTINGS.sha256()[:12])
"""


def render_sample(data: Path, count: int, folder: Path) -> list[Path]:
    """``count`` performances drawn with a fixed seed, rendered as the training renders are, saved as .npy."""
    from pianocoach_train.audio.renders import RenderJob, render_audio
    from pianocoach_train.percepiano.dataset import PercePiano

    midi = PercePiano.open(data).midi_files
    ids = sorted(midi)
    chosen = sorted(np.random.default_rng(0).choice(len(ids), min(count, len(ids)), replace=False))
    paths = []
    for n, index in enumerate(chosen):
        ident, font = ids[index], SOUNDFONTS[n % len(SOUNDFONTS)]
        audio, _ = render_audio(RenderJob(ident, str(midi[ident]), font, 0, True))
        paths.append(folder / f"{n:03d}.npy")
        np.save(paths[-1], audio)
    return paths


def compute(root: Path, out: Path, data: Path, audio: list[Path]) -> str:
    """Features of ``audio`` and of every MIDI file as the checkout at ``root`` computes them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _COMPUTE, str(root), str(out), str(data), *map(str, audio)],
        capture_output=True,
        text=True,
        env=env,
    )
    if run.returncode != 0:
        raise RuntimeError(f"{root}: feature computation failed: {run.stderr.strip().splitlines()[-1:]}")
    return run.stdout.strip().splitlines()[-1]


def differences(ours: dict, theirs: dict, performances: int) -> dict:
    """Largest absolute difference and count of identical items, per kind of feature."""
    same_rows = int((ours["midi"] == theirs["midi"]).all(axis=1).sum())
    report = {
        "midi": {
            "files": len(ours["midi"]),
            "identical": same_rows,
            "max_abs": float(np.abs(ours["midi"] - theirs["midi"]).max()),
        }
    }
    for kind in AUDIO_KINDS:
        diffs = []
        for i in range(performances):
            a, b = ours[f"{i}:{kind}"].astype(np.float64), theirs[f"{i}:{kind}"].astype(np.float64)
            same_nan = np.array_equal(np.isnan(a), np.isnan(b))
            diffs.append(float(np.nanmax(np.abs(a - b))) if a.size and same_nan else (0.0 if same_nan else np.inf))
        report[kind] = {
            "performances": performances,
            "identical": sum(d == 0.0 for d in diffs),
            "max_abs": max(diffs, default=0.0),
        }
    return report


def compare(against: str, data: Path, performances: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="pianocoach-features-") as tmp:
        tmp = Path(tmp)
        tree = tmp / "other"
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", "--quiet", str(tree), against], check=True
        )
        try:
            log.info("rendering %d performances", performances)
            audio = render_sample(data, performances, tmp)
            log.info("computing features with %s", against)
            theirs_version = compute(tree, tmp / "theirs.npz", data, audio)
            log.info("computing features with this checkout")
            ours_version = compute(REPO_ROOT, tmp / "ours.npz", data, audio)
            ours, theirs = dict(np.load(tmp / "ours.npz")), dict(np.load(tmp / "theirs.npz"))
        finally:
            subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        seconds = sum(len(np.load(p, mmap_mode="r")) for p in audio) / 44100
    return {
        "against": against,
        "versions": {"this checkout": ours_version, against: theirs_version},
        "rendered_seconds": round(seconds, 1),
        **differences(ours, theirs, len(audio)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pianocoach_train.feature_versions", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--against", required=True, help="git revision to compare with (e.g. HEAD~1, a tag)")
    parser.add_argument("--performances", type=int, default=24, help="performances to render (default 24)")
    parser.add_argument(
        "--data", type=Path, help=f"PercePiano folder (default ${PERCEPIANO_ENV} or ../shared/percepiano)"
    )
    parser.add_argument("--out", type=Path, help="also write the report here (JSON)")
    add_verbose_flag(parser)
    parser.set_defaults(run=_run)
    return run_command(parser.parse_args(argv), parser.prog)


def _run(args: argparse.Namespace) -> int:
    report = compare(args.against, percepiano_root(args.data), args.performances)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    same = all(report[k]["max_abs"] == 0.0 for k in ("midi", *AUDIO_KINDS))
    print("identical features" if same else "the features differ (see max_abs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
