"""Who may use the page: the people in the room, not the network.

- Requests from addresses outside private, loopback and link-local networks are refused.
- A browser is paired once with a short code: the page asks for one, the device shows it (the daemon reads the
  pairing file and puts it on the display; ``pianocoach web --print-pairing-code`` prints one for a device without
  a display) and the person types it in. Codes expire after five minutes and are used once.
- Failed codes are counted per process: after ``MAX_FAILURES`` within ``FAILURE_WINDOW_S`` every attempt is
  refused until the window has passed (a six-digit code then takes years to guess).
- A paired browser holds Flask's signed session cookie (HttpOnly, SameSite=Strict) that expires after
  ``web.session_days``; every change needs that session and its CSRF token, compared in constant time.
- Nothing secret goes into a URL or a log: codes and tokens travel in POST bodies and cookies only.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import secrets
import time
from collections import deque
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL_S = 300.0
MAX_FAILURES = 5
FAILURE_WINDOW_S = 600.0
PAIRING_FILE = "web-pairing.json"  # in the data folder, 0600: the code the display shows
SECRET_FILE = "web-secret"  # in the data folder, 0600: the key that signs session cookies


def from_room(address: str | None) -> bool:
    """Whether a client address is on a private, loopback or link-local network."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_private or ip.is_loopback or ip.is_link_local


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)


def session_secret(data_dir: Path) -> bytes:
    """The cookie-signing key, made once per device."""
    path = data_dir / SECRET_FILE
    if path.is_file():
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 32:
            return key.encode()
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_private(path, secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip().encode()


class Pairing:
    """Pairing codes (one at a time, in the data folder for the display) and the failed-attempt limit."""

    def __init__(
        self, data_dir: Path, clock: Callable[[], float] = time.time, announce: Callable[[str], None] | None = None
    ) -> None:
        self.path = data_dir / PAIRING_FILE
        self.clock = clock
        self.announce = announce  # besides the file: where a device without display shows the code (the demo)
        self.failures: deque[float] = deque()

    def new_code(self) -> str:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(self.path, json.dumps({"code": code, "expires_at": self.clock() + CODE_TTL_S}))
        log.info("pairing code issued (shown on the device, valid %.0f s)", CODE_TTL_S)
        if self.announce is not None:
            self.announce(code)
        return code

    def current(self) -> dict | None:
        """The pending code and its expiry, or None."""
        try:
            pending = json.loads(self.path.read_text(encoding="utf-8"))
            code, expires = str(pending["code"]), float(pending["expires_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if expires < self.clock() or len(code) != CODE_DIGITS or not code.isdigit():
            return None
        return {"code": code, "expires_at": expires}

    def locked_for(self) -> float:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = self.clock()
        while self.failures and self.failures[0] < now - FAILURE_WINDOW_S:
            self.failures.popleft()
        if len(self.failures) < MAX_FAILURES:
            return 0.0
        return self.failures[0] + FAILURE_WINDOW_S - now

    def attempt(self, code: str) -> bool:
        """Whether ``code`` is the pending one (it is then used up). Refused, uncounted, while locked."""
        if self.locked_for() > 0:
            return False
        pending = self.current()
        typed = "".join(ch for ch in str(code)[:32] if ch.isdigit())
        if pending is not None and hmac.compare_digest(typed.encode(), pending["code"].encode()):
            self.path.unlink(missing_ok=True)
            self.failures.clear()
            log.info("a browser was paired")
            return True
        self.failures.append(self.clock())
        log.warning("a wrong pairing code (%d in the last %.0f min)", len(self.failures), FAILURE_WINDOW_S / 60)
        return False


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(sent: str | None, held: str | None) -> bool:
    return bool(sent and held) and hmac.compare_digest(str(sent).encode(), str(held).encode())
