"""Who may use the page: the people in the room, not the network.

- Requests from addresses outside private, loopback and link-local networks are refused.
- A browser is paired once with a short code: the page asks for one, the daemon shows it on the display and a press
  on the button confirms it (``appliance.pairing_file``), and the person types it in; an unconfirmed code is
  refused like a wrong one. ``--print-pairing-code`` (a device without display) prints a code already confirmed.
  Codes expire after five minutes and are used once.
- Failed codes are counted per process: after ``MAX_FAILURES`` within ``FAILURE_WINDOW_S`` every attempt is
  refused until the window has passed (a six-digit code then takes years to guess).
- A paired browser holds Flask's signed session cookie (HttpOnly, SameSite=Strict) that expires after
  ``web.session_days``; every change needs that session and its CSRF token, compared in constant time.
- Nothing secret goes into a URL or a log: codes and tokens travel in POST bodies and cookies only.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import time
from collections import deque
from pathlib import Path
from typing import Callable

from pianocoach.appliance.pairing_file import PAIRING_FILE, read_pending, write_pending, write_private

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL_S = 300.0
MAX_FAILURES = 5
FAILURE_WINDOW_S = 600.0
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


def session_secret(data_dir: Path) -> bytes:
    """The cookie-signing key, made once per device."""
    path = data_dir / SECRET_FILE
    if path.is_file():
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 32:
            return key.encode()
    data_dir.mkdir(parents=True, exist_ok=True)
    write_private(path, secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip().encode()


class Pairing:
    """Pairing codes (one at a time, in the data folder for the display) and the failed-attempt limit."""

    def __init__(
        self, data_dir: Path, clock: Callable[[], float] = time.time, announce: Callable[[str], None] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.path = data_dir / PAIRING_FILE
        self.clock = clock
        self.announce = announce  # besides the file: where a device without display shows the code (the demo)
        self.failures: deque[float] = deque()

    def new_code(self, confirmed: bool = False) -> str:
        """A new code (replacing any pending one), for the display to show and the button to confirm; ``confirmed``:
        already confirmed (printed for a device without display)."""
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        # a code that goes to a console (the demo) is seen by whoever is at the device: confirmed by that
        write_pending(self.data_dir, code, self.clock() + CODE_TTL_S, confirmed or self.announce is not None)
        log.info("pairing code issued (valid %.0f s)", CODE_TTL_S)
        if self.announce is not None:
            self.announce(code)
        return code

    def current(self) -> dict | None:
        """The pending code, its expiry and whether it was confirmed, or None."""
        return read_pending(self.data_dir, self.clock())

    def locked_for(self) -> float:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = self.clock()
        while self.failures and self.failures[0] < now - FAILURE_WINDOW_S:
            self.failures.popleft()
        if len(self.failures) < MAX_FAILURES:
            return 0.0
        return self.failures[0] + FAILURE_WINDOW_S - now

    def attempt(self, code: str) -> str:
        """ "paired" (the code is used up), "unconfirmed" (the right code, not yet confirmed on the device: not
        counted), "wrong" (counted towards the lock) or "locked" (refused, uncounted)."""
        if self.locked_for() > 0:
            return "locked"
        pending = self.current()
        typed = "".join(ch for ch in str(code)[:32] if ch.isdigit())
        if pending is not None and hmac.compare_digest(typed.encode(), pending["code"].encode()):
            if not pending["confirmed"]:
                return "unconfirmed"
            self.path.unlink(missing_ok=True)
            self.failures.clear()
            log.info("a browser was paired")
            return "paired"
        self.failures.append(self.clock())
        log.warning("a wrong pairing code (%d in the last %.0f min)", len(self.failures), FAILURE_WINDOW_S / 60)
        return "wrong"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(sent: str | None, held: str | None) -> bool:
    return bool(sent and held) and hmac.compare_digest(str(sent).encode(), str(held).encode())
