"""The Debian General MIDI soundfonts PercePiano is rendered with. One is held out: it renders the test
audio only and never a training or early-stopping example (``training_soundfonts`` refuses it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pianocoach.errors import PianoCoachError


@dataclass(frozen=True)
class Soundfont:
    name: str
    path: Path
    package: str  # the Debian package that installs it


SOUNDFONTS = {
    sf.name: sf
    for sf in (
        Soundfont("timgm6mb", Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "timgm6mb-soundfont"),
        Soundfont("fluidr3_gm", Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), "fluid-soundfont-gm"),
        Soundfont("fluidr3_mono", Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"), "fluidr3mono-gm-soundfont"),
        Soundfont(
            "musescore_general", Path("/usr/share/sounds/sf3/MuseScore_General.sf3"), "musescore-general-soundfont"
        ),
    )
}
# MuseScore General's piano is sampled from another instrument than the FluidR3 family (FluidR3 Mono is
# FluidR3 GM's samples in mono), so holding it out tests an unheard piano, not a remix of a heard one.
HELD_OUT = "musescore_general"
# FluidR3 Mono is FluidR3 GM's samples in mono: as a third training soundfont it added a third of the
# training time and little new timbre, so it is rendered on request only (audio render --soundfonts)
TRAINING = ("timgm6mb", "fluidr3_gm")


class SoundfontError(PianoCoachError, RuntimeError):
    """An unknown soundfont, or one whose file is not installed."""


def soundfont(name: str) -> Soundfont:
    if name not in SOUNDFONTS:
        raise SoundfontError(f"unknown soundfont {name!r} (known: {', '.join(SOUNDFONTS)})")
    sf = SOUNDFONTS[name]
    if not sf.path.is_file():
        raise SoundfontError(f"{sf.path}: soundfont missing (apt-get install --no-install-recommends {sf.package})")
    return sf


def training_soundfonts(names: tuple[str, ...] = TRAINING) -> tuple[str, ...]:
    """The soundfonts training may use; the held-out one is refused."""
    if HELD_OUT in names:
        raise SoundfontError(f"{HELD_OUT} is the held-out test soundfont and cannot render training audio")
    return tuple(soundfont(n).name for n in names)
