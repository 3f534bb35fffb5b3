"""How different the pianos of the installed soundfonts sound: which General MIDI piano programmes are new
instruments and which replay samples already heard (or the held-out piano's).

Every piano programme (0-3) of every soundfont file plays the same probe (six Cs from C2 to C7, each at four
velocities); each note's spectrum is summed into 60 log-spaced bands from 20 Hz (dB). The distance between two
pianos is the mean absolute difference of those band levels over the probe's notes, after removing the median
difference (a programme that is only louder is the same piano). Programmes that replay the same samples come out at
1-3 dB, different pianos at 4-15 dB; a programme with its own EQ or detuning over the same samples can reach
4-5 dB (TimGM6mb's honky-tonk: 4.2), so distances of 4-5 dB do not tell a new piano for certain.

    python -m pianocoach_train.audio.piano_distances [--out reports/audio]
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pianocoach.features import NoteTable
from pianocoach.jsonio import write_json_atomic
from pianocoach_train.audio.soundfonts import HELD_OUT, SOUNDFONTS, TRAINING
from pianocoach_train.paths import REPO_ROOT

log = logging.getLogger(__name__)

RATE = 22050
PROBE_PITCHES = (36, 48, 60, 72, 84, 96)
PROBE_VELOCITIES = (30, 60, 90, 120)
NOTE_S, STEP_S = 1.0, 1.5
PROGRAMS = {0: "acoustic grand", 1: "bright acoustic", 2: "electric grand", 3: "honky-tonk"}
BANDS = 60


@dataclass(frozen=True)
class Piano:
    file: Path
    program: int

    @property
    def label(self) -> str:
        return f"{self.file.stem} {self.program}"


def probe() -> NoteTable:
    notes, at = [], 0.0
    for pitch in PROBE_PITCHES:
        for velocity in PROBE_VELOCITIES:
            notes.append((at, at + NOTE_S, pitch, velocity))
            at += STEP_S
    return NoteTable.from_notes(notes, source="<piano probe>")


def fingerprint(audio: np.ndarray, notes: int) -> np.ndarray:
    """[notes, BANDS] band levels (dB) of each probe note's first second."""
    length = int(NOTE_S * RATE)
    edges = np.geomspace(20 * NOTE_S, length // 2, BANDS + 1).astype(int)  # 20 Hz to Nyquist: every band 2+ bins
    rows = []
    for n in range(notes):
        start = int(n * STEP_S * RATE)
        segment = audio[start : start + length]
        power = np.abs(np.fft.rfft(segment * np.hanning(len(segment)))) ** 2
        rows.append(10 * np.log10(np.add.reduceat(power, edges[:-1]) + 1e-9))
    return np.array(rows)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute band-level difference (dB) once the median difference (a plain level change) is removed."""
    diff = a - b
    return float(np.mean(np.abs(diff - np.median(diff))))


def installed_pianos() -> list[Piano]:
    files = sorted({sf.path for sf in SOUNDFONTS.values() if sf.path.is_file()})
    return [Piano(file, program) for file in files for program in PROGRAMS]


def measure(pianos: list[Piano]) -> np.ndarray:
    from pianocoach_train.audio.synth import Synth

    table = probe()
    prints = []
    for file in dict.fromkeys(p.file for p in pianos):
        synth = Synth(str(file), RATE)
        prints += [fingerprint(synth.render(table, p.program), len(table)) for p in pianos if p.file == file]
    return np.array([[distance(a, b) for b in prints] for a in prints])


def role(piano: Piano) -> str:
    for name, sf in SOUNDFONTS.items():
        if sf.path == piano.file and sf.program == piano.program:
            return "held out" if name == HELD_OUT else "training" if name in TRAINING else "rendered on request"
    return "not used"


def write_report(pianos: list[Piano], matrix: np.ndarray, out: Path) -> dict:
    from pianocoach_train.plots import pyplot, save_figure

    labels = [p.label for p in pianos]
    report = {
        "probe": {"pitches": PROBE_PITCHES, "velocities": PROBE_VELOCITIES, "note_s": NOTE_S, "bands": BANDS},
        "pianos": [{"label": p.label, "program": PROGRAMS[p.program], "role": role(p)} for p in pianos],
        "distance_db": np.round(matrix, 2).tolist(),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "pianos.json", report)
    lines = [
        "# How different the pianos sound",
        "",
        "Mean absolute band-level difference (dB) of a probe of 24 notes, level removed "
        "(`python -m pianocoach_train.audio.piano_distances`). Renders of the installed soundfonts, not real pianos.",
        "",
        "| piano | role | " + " | ".join(labels) + " |",
        "| --- | --- | " + " | ".join("---" for _ in labels) + " |",
    ]
    for piano, row in zip(pianos, matrix):
        lines.append(
            f"| {piano.label} ({PROGRAMS[piano.program]}) | {role(piano)} | "
            + " | ".join(f"{v:.1f}" for v in row)
            + " |"
        )
    (out / "pianos.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 8))
    image = ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), [f"{p.label} ({role(p)})" for p in pianos], fontsize=7)
    fig.colorbar(image, ax=ax, label="distance (dB)")
    ax.set_title("How different the soundfonts' piano programmes sound")
    save_figure(fig, out / "pianos.png")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "audio")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    pianos = installed_pianos()
    matrix = measure(pianos)
    write_report(pianos, matrix, args.out)
    log.info("%d pianos measured: %s", len(pianos), args.out / "pianos.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
