"""The pairing code the companion page asks for, shared through one file in the data folder (owner-only, written
atomically): the page (``pianocoach.web``) writes a code, the daemon shows it on the display and a press on the
button confirms it (a hold refuses it); the page accepts the code only once it is confirmed. A code printed with
``--print-pairing-code`` (a device without display) is written confirmed: whoever can run that is at the device.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

PAIRING_FILE = "web-pairing.json"
MAX_BYTES = 4096  # the file is a few dozen bytes; anything larger is not ours


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)


def write_pending(data_dir: Path, code: str, expires_at: float, confirmed: bool) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    payload = {"code": code, "expires_at": expires_at, "confirmed": confirmed}
    write_private(data_dir / PAIRING_FILE, json.dumps(payload))


def read_pending(data_dir: Path, now: float | None = None) -> dict | None:
    """The pending code ({code, expires_at, confirmed}) unless there is none, it has expired or the file is not
    one the page wrote."""
    path = data_dir / PAIRING_FILE
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        pending = json.loads(path.read_text(encoding="utf-8"))
        code, expires, confirmed = str(pending["code"]), float(pending["expires_at"]), pending.get("confirmed") is True
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if expires < (time.time() if now is None else now) or len(code) != 6 or not code.isdigit():
        return None
    return {"code": code, "expires_at": expires, "confirmed": confirmed}


def confirm(data_dir: Path, code: str) -> bool:
    """The button was pressed while ``code`` was shown: the page may now accept it (False: it is gone)."""
    pending = read_pending(data_dir)
    if pending is None or pending["code"] != code:
        return False
    write_pending(data_dir, code, pending["expires_at"], confirmed=True)
    log.info("pairing code confirmed on the device")
    return True


def refuse(data_dir: Path) -> None:
    """The button was held: no browser pairs with this code."""
    (data_dir / PAIRING_FILE).unlink(missing_ok=True)
    log.info("pairing code refused on the device")
