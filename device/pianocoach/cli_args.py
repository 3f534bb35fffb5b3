"""Argument types shared by the command lines (device, host training, export): comma-separated lists."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable


def split_list(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: items stripped, empty ones dropped (``""`` -> ``()``)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def choice_list(choices: Iterable[str], noun: str) -> Callable[[str], tuple[str, ...]]:
    """An argparse ``type``: a comma-separated list of at least one of ``choices``; anything else is
    refused in one line (``unknown split 'x'; choose from performer, piece``)."""
    allowed = tuple(choices)

    def parse(text: str) -> tuple[str, ...]:
        names = split_list(text)
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {noun} {', '.join(unknown) or repr(text)}; choose from {', '.join(allowed)}"
            )
        return names

    return parse
