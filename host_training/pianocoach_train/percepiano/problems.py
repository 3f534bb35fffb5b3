"""A problem found in the dataset, collected rather than raised so a check can list all of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    kind: str  # short category: "missing MIDI", "unlabelled MIDI", "unreadable MIDI", "label out of range", ...
    subject: str  # the id or file concerned
    detail: str  # one readable line

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"
