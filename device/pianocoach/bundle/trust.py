"""Which signing keys the device trusts: its trust anchors.

Two places, both owned by root on a real device and neither writable by the service user:

- the keys packaged with the software (``pianocoach/data/trusted_keys/``: the development key that
  signs the committed default bundle), unless the system folder holds the marker file
  ``packaged-keys.disabled`` (``install.sh --release-key`` writes it: a production device then trusts
  only its own release key, and a ``pip install`` that brings the packaged key back changes nothing);
- the system folder ``/etc/pianocoach/trusted_keys/`` (``*.pub``, Ed25519 public keys in PEM form).

Nothing on the command line chooses trust. Development and tests may point the system folder elsewhere
with ``PIANOCOACH_TRUSTED_KEYS``; the flashing gate (:mod:`pianocoach.appliance.flash_gate`) ignores it
and its wrapper starts Python with an empty environment. A folder or key file that others may write, a key file
that is a symbolic link, and a malformed key are skipped with a logged error: one bad file never stops
the device from loading bundles signed by the keys that are fine.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from pianocoach.bundle.signing import PACKAGED_KEYS, TrustedKey, load_public_key
from pianocoach.errors import SigningKeyError

log = logging.getLogger(__name__)

SYSTEM_TRUST_DIR = Path("/etc/pianocoach/trusted_keys")
TRUST_DIR_ENV = "PIANOCOACH_TRUSTED_KEYS"
NO_PACKAGED_KEYS = "packaged-keys.disabled"  # marker file in the system folder: distrust the packaged keys
MAX_KEY_BYTES = 4096  # a PEM Ed25519 public key is 113 bytes
MAX_KEY_FILES = 64


def trust_dir(allow_override: bool = True) -> Path:
    """The system trust folder (``PIANOCOACH_TRUSTED_KEYS`` when allowed and set)."""
    override = os.environ.get(TRUST_DIR_ENV, "") if allow_override else ""
    return Path(override) if override else SYSTEM_TRUST_DIR


def device_keys(allow_override: bool = True) -> list[TrustedKey]:
    """The keys this device trusts (see the module docstring). Fails closed: a trust folder that exists
    but is unsafe (a link, not a folder, writable by others, not root's) means no key at all, never a
    fallback to the packaged development key its marker file may have switched off."""
    folder = trust_dir(allow_override)
    system = folder == SYSTEM_TRUST_DIR
    if not os.path.lexists(folder):  # a development machine: the packaged keys only
        return keys_in_folder(PACKAGED_KEYS, system=False)
    if not (stat.S_ISDIR(folder.lstat().st_mode) and _safe_anchor(folder, system)):
        log.error(
            "%s: not a safe trust folder (a link, not a folder, or writable by others): no key is trusted", folder
        )
        return []
    keys: list[TrustedKey] = []
    if not os.path.lexists(folder / NO_PACKAGED_KEYS):
        keys += keys_in_folder(PACKAGED_KEYS, system=False)
    return keys + keys_in_folder(folder, system)


def keys_in_folder(folder: Path, system: bool = True) -> list[TrustedKey]:
    """Every usable ``*.pub`` in ``folder``; unusable ones are logged and skipped."""
    keys: list[TrustedKey] = []
    for path in sorted(folder.glob("*.pub"))[:MAX_KEY_FILES]:
        if not _safe_anchor(path, system):
            continue
        try:
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                raise SigningKeyError(path, "not a regular file (a link or a device); skipped")
            if info.st_size > MAX_KEY_BYTES:
                raise SigningKeyError(path, f"{info.st_size} bytes: too large for a public key; skipped")
            keys.append(load_public_key(path))
        except SigningKeyError as exc:
            log.error("untrusted key file: %s", exc)
    return keys


def _safe_anchor(path: Path, system: bool) -> bool:
    """A trust anchor must not be writable by anyone but its owner, and the system folder's anchors
    must be owned by root (so the service user cannot add a key)."""
    try:
        info = path.lstat()
    except OSError as exc:
        log.error("%s: cannot read it (%s); not trusted", path, exc.strerror)
        return False
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        log.error("%s: writable by group or others (mode %o); not trusted", path, stat.S_IMODE(info.st_mode))
        return False
    if system and info.st_uid != 0:
        log.error("%s: owned by uid %d, not root; not trusted", path, info.st_uid)
        return False
    if not system and info.st_uid not in (0, os.geteuid()):
        log.error("%s: owned by uid %d (neither root nor this user); not trusted", path, info.st_uid)
        return False
    return True
