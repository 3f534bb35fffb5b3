"""The pianos PercePiano is rendered with: a General MIDI programme of a Debian soundfont. One is held out: it
renders the test audio only and never a training or early-stopping example (``training_soundfonts`` refuses it,
and every other programme of its file and of the fuller edition of the same samples)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pianocoach.errors import PianoCoachError


@dataclass(frozen=True)
class Soundfont:
    name: str
    path: Path
    package: str  # the Debian package that installs it
    program: int = 0  # the General MIDI programme it plays: 0 acoustic grand, 1 bright, 2 electric grand, 3 honky-tonk


SOUNDFONTS = {
    sf.name: sf
    for sf in (
        Soundfont("timgm6mb", Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "timgm6mb-soundfont"),
        Soundfont("fluidr3_gm", Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), "fluid-soundfont-gm"),
        Soundfont("fluidr3_mono", Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"), "fluidr3mono-gm-soundfont"),
        Soundfont(
            "musescore_general", Path("/usr/share/sounds/sf3/MuseScore_General.sf3"), "musescore-general-soundfont"
        ),
        Soundfont("csound_gm", Path("/usr/share/sounds/sf2/sf_GMbank.sf2"), "csound-soundfont"),
        # a CP-70-like electric grand: hammers on strings, picked up electrically
        Soundfont("timgm6mb_electric_grand", Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "timgm6mb-soundfont", 2),
    )
}
# MuseScore General's piano is sampled from another instrument than the FluidR3 family (FluidR3 Mono is
# FluidR3 GM's samples in mono), so holding it out tests an unheard piano, not a remix of a heard one.
HELD_OUT = "musescore_general"
# the held-out piano's samples: no programme of these files may render training audio (the Full edition is the
# same piano with more layers)
HELD_OUT_FILES = (
    Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    Path("/usr/share/sounds/sf3/MuseScore_General_Full.sf3"),
)
# FluidR3 Mono is FluidR3 GM's samples in mono: as a third training soundfont it added a third of the
# training time and little new timbre, so it is rendered on request only (audio render --soundfonts). FluidR3's
# programmes 1 and 3 play its programme 0's samples (their spectra 1.3 and 1.5 dB apart, against 4-15 dB between
# different pianos), and its electric grand is close to MuseScore General's (2.7 dB), so none of them renders
# training audio (and the sound check's clips, which choose programmes themselves, skip HELD_OUT_LOOKALIKES).
# csound's grand is 4.4 dB from TimGM6mb's, about as far as TimGM6mb's own honky-tonk (4.2): it may share samples
# with it, so it is counted as a new piano with that doubt
# (python -m pianocoach_train.audio.piano_distances; README "More pianos, more rooms")
TRAINING = ("timgm6mb", "fluidr3_gm", "csound_gm", "timgm6mb_electric_grand")


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
    for name in names:
        if name == HELD_OUT or soundfont(name).path.resolve() in {f.resolve() for f in HELD_OUT_FILES}:
            raise SoundfontError(
                f"{name} is (or shares samples with) the held-out test soundfont {HELD_OUT} "
                "and cannot render training audio"
            )
    return tuple(soundfont(n).name for n in names)


# other files' programmes that replay the held-out soundfont's own samples (make piano-distances: FluidR3's and FluidR3
# Mono's electric grand are 2.7 and 1.4 dB from MuseScore General's programme 2, which the sound check's test plays):
# code choosing programmes itself must skip them
HELD_OUT_LOOKALIKES = (
    (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), 2),
    (Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"), 2),
)


def plays_held_out_samples(path: Path, program: int) -> bool:
    """Whether this programme of this file replays the held-out soundfont's samples (or is one of its files)."""
    resolved = path.resolve()
    return resolved in {f.resolve() for f in HELD_OUT_FILES} or any(
        resolved == f.resolve() and program == p for f, p in HELD_OUT_LOOKALIKES
    )


def distinct_files(names: tuple[str, ...]) -> tuple[str, ...]:
    """The first of ``names`` for each soundfont file (for code that chooses the programme itself)."""
    seen: dict[Path, str] = {}
    for name in names:
        seen.setdefault(soundfont(name).path, name)
    return tuple(seen.values())
