"""JSON files: read with a one-line error naming the file, write atomically (temporary file + rename)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pianocoach.errors import InputFileError


def read_json(path: str | Path, error: type[InputFileError] = InputFileError, what: str = "JSON file") -> Any:
    """Parse a JSON file; a missing or unreadable file raises ``error`` with ``"<path>: <problem>"``."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(path, "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(path, f"not a readable {what} ({exc})") from exc


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON next to ``path`` then rename over it, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
