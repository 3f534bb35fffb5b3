"""Reading TOML settings files into typed, frozen dataclasses: one loader for the appliance's
``config.toml`` (:mod:`pianocoach.appliance.config`), the host's fine-tuning configs and the flashing
inventory.

Every problem is one line naming the file, the table and the key: a missing file, a file that is not
TOML, an unknown table or key, a value of the wrong type, a value outside a class's ``CHOICES`` or
``RANGES``. Each caller passes its own exception class (a :class:`ConfigFileError`, or another
:class:`~pianocoach.errors.PianoCoachError`) so its callers keep catching what they caught before.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pianocoach.errors import PianoCoachError

T = TypeVar("T")

# how a type is named in "must be ..." messages (a caller may pass its own words)
TYPE_WORDS: dict[object, str] = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    tuple[str, ...]: "a list of strings",
}


class ConfigFileError(PianoCoachError):
    """A settings file (or an override of one) is invalid; the message names the file, the table and the key."""


def read_toml(
    path: str | Path, error: type[PianoCoachError] = ConfigFileError, what: str = "settings file"
) -> dict[str, Any]:
    """The file's tables as a dict. A missing file is ``"<path>: no such <what>"``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML ({_one_line(exc)})") from None
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror or exc})") from None


def fill_dataclass(
    cls: type[T],
    values: Mapping[str, Any],
    where: str,
    base: T | None = None,
    error: type[PianoCoachError] = ConfigFileError,
    type_words: Mapping[object, str] = TYPE_WORDS,
) -> T:
    """``cls(**values)`` (or ``base`` with ``values`` replaced) after checking every key and value.

    ``where`` starts each message (``"<path>: [table]"``). bool, int, float, str and ``tuple[str, ...]``
    fields are type-checked (an int is accepted for a float; a TOML array becomes a tuple); a class may
    declare ``CHOICES = {key: (allowed, ...)}`` and ``RANGES = {key: (low, high)}``."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise error(f"{where} unknown key {key!r} (known: {', '.join(sorted(known))})")
        checked[key] = check_value(cls, key, hints[key], value, where, error, type_words)
    if base is not None:
        return dataclasses.replace(base, **checked)  # type: ignore[type-var]
    missing = [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in checked and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise error(f"{where} missing key {missing[0]!r}")
    return cls(**checked)


def fill_tables(
    cls: type[T],
    data: Mapping[str, Any],
    path: str | Path,
    error: type[PianoCoachError] = ConfigFileError,
    type_words: Mapping[object, str] = TYPE_WORDS,
    **extra: Any,
) -> T:
    """``cls`` whose dataclass-typed fields are the file's ``[tables]``; ``extra`` fills the other fields."""
    hints = typing.get_type_hints(cls)
    tables = [name for name, kind in hints.items() if dataclasses.is_dataclass(kind)]
    filled: dict[str, Any] = {}
    for name, values in data.items():
        if name not in tables:
            raise error(f"{path}: unknown section [{name}] (known: {', '.join(tables)})")
        if not isinstance(values, dict):
            raise error(f"{path}: {name} must be a [section] of keys")
        filled[name] = fill_dataclass(hints[name], values, f"{path}: [{name}]", error=error, type_words=type_words)
    return cls(**filled, **extra)


def check_value(
    cls: type,
    key: str,
    kind: object,
    value: Any,
    where: str,
    error: type[PianoCoachError] = ConfigFileError,
    type_words: Mapping[object, str] = TYPE_WORDS,
) -> Any:
    """``value`` checked against the field's type and the class's CHOICES and RANGES (an int made a float
    for a float field, a list a tuple for a tuple field)."""
    name = f"{where} {key}"

    def wrong() -> PianoCoachError:
        return error(f"{name} must be {type_words.get(kind, getattr(kind, '__name__', str(kind)))}, not {value!r}")

    if kind is bool:
        if not isinstance(value, bool):
            raise wrong()
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise wrong()
    elif kind == tuple[str, ...]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise wrong()
        value = tuple(value)
    choices = getattr(cls, "CHOICES", {}).get(key)
    if choices and value not in choices:
        raise error(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    low_high = getattr(cls, "RANGES", {}).get(key)
    if low_high and not low_high[0] <= value <= low_high[1]:
        raise error(f"{name} must be between {low_high[0]} and {low_high[1]}, not {value!r}")
    return value


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
