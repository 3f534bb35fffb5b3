"""Render MIDI to audio with the FluidSynth command-line synthesiser and a General MIDI soundfont
(Debian: fluidsynth, timgm6mb-soundfont). Used by tests and the benchmark to make audio whose notes are
known, and by host training for audio renders."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pianocoach.errors import InputFileError, PianoCoachError

SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)


class RenderError(PianoCoachError):
    """FluidSynth or a soundfont is missing, or rendering failed."""


def default_soundfont() -> Path:
    for path in SOUNDFONTS:
        if path.is_file():
            return path
    raise RenderError(
        "no General MIDI soundfont found (sudo apt-get install --no-install-recommends timgm6mb-soundfont)"
    )


def render_midi(
    midi_path: str | Path,
    wav_path: str | Path,
    sample_rate: int = 44100,
    soundfont: str | Path | None = None,
    gain: float = 0.6,
) -> Path:
    """Render ``midi_path`` to a 16-bit WAV (written to a temporary name, then renamed)."""
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    if not midi_path.is_file():
        raise InputFileError(midi_path, "no such file")
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise RenderError("fluidsynth is not installed (sudo apt-get install --no-install-recommends fluidsynth)")
    tmp = wav_path.with_name(f".{wav_path.stem}.{os.getpid()}.tmp.wav")
    # -n no MIDI input, -i no shell, -F render to file as fast as possible, -T the file type
    command = [
        binary,
        "-n",
        "-i",
        "-q",
        "-g",
        str(gain),
        "-r",
        str(sample_rate),
        "-T",
        "wav",
        "-F",
        str(tmp),
        str(soundfont or default_soundfont()),
        str(midi_path),
    ]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if run.returncode != 0 or not tmp.is_file() or tmp.stat().st_size <= 44:
            raise RenderError(f"{midi_path}: FluidSynth failed ({(run.stderr or run.stdout).strip()[:200]})")
        os.replace(tmp, wav_path)
    finally:
        tmp.unlink(missing_ok=True)
    return wav_path
