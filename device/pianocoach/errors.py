"""One exception hierarchy for everything PianoCoach raises on purpose.

Callers (the CLI, the daemon) catch :class:`PianoCoachError` and show its message as one line; the
message always names the file (when there is one) and the problem.
"""

from __future__ import annotations

from pathlib import Path


class PianoCoachError(Exception):
    """Base class of every error PianoCoach raises on purpose."""


class InputFileError(PianoCoachError):
    """A file given to PianoCoach cannot be used. The message is ``"<path>: <problem>"``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class MidiFileError(InputFileError):
    """A MIDI file is missing, empty, corrupt or cannot be parsed."""


class NoNotesError(MidiFileError):
    """A MIDI file parses but holds no piano notes (no notes at all, or only drum tracks)."""


class LabelFileError(InputFileError):
    """A label file is unreadable or has a malformed row."""


class DatasetFileError(InputFileError):
    """A dataset folder, split list or index file is missing or malformed."""


class InvalidNotesError(PianoCoachError):
    """A list of notes handed to the feature code is not a valid performance."""


class BundleError(InputFileError):
    """A model bundle (or a file in it) is unreadable, fails verification, or cannot be built."""


class BundleRejected(BundleError):
    """A model bundle failed verification; ``problems`` lists every reason, one line each."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        self.problems = list(problems)
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        super().__init__(path, f"refused: {problems[0]}{more}")


class SigningKeyError(InputFileError):
    """A signing or public key file is missing or not an Ed25519 key in PEM form."""
