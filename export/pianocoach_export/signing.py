"""Signing keys on the host: make a key pair, load the private half, sign a manifest.

Private keys live outside the repository (``$PIANOCOACH_KEY_DIR``, default ``~/.config/pianocoach/keys``),
PEM, readable by their owner only. The device verifies with the public half
(:mod:`pianocoach.bundle.signing`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pianocoach.bundle.signing import PACKAGED_KEYS, key_id, public_key_pem, signature_document
from pianocoach.errors import SigningKeyError

log = logging.getLogger(__name__)

KEY_DIR_ENV = "PIANOCOACH_KEY_DIR"
DEVELOPMENT_KEY = "development"  # signs the committed default bundle; never trust it on a production device


def key_dir() -> Path:
    return Path(os.environ.get(KEY_DIR_ENV, Path.home() / ".config" / "pianocoach" / "keys"))


def generate_key_pair(name: str, folder: Path | None = None, force: bool = False) -> tuple[Path, Path]:
    """Write ``NAME.key`` (private, mode 600) and ``NAME.pub`` into ``folder``; refuses to overwrite."""
    folder = Path(folder or key_dir())
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    if private_path.exists() and not force:
        raise SigningKeyError(private_path, "a key with this name exists already (use --force to replace it)")
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(private_path, pem)
    _write_atomic(public_path, public_key_pem(key.public_key()))
    log.info("made key %s (id %s): %s, %s", name, key_id(key.public_key()), private_path, public_path)
    return private_path, public_path


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise SigningKeyError(path, "no such private key file (make one with `make keygen`)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(path, f"not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(path, f"not an Ed25519 key ({type(key).__name__})")
    return key


def development_key(trusted_dir: Path = PACKAGED_KEYS) -> Ed25519PrivateKey:
    """The development signing key, made on first use; its public half is the one committed in
    ``device/pianocoach/data/trusted_keys/development.pub`` (replaced, with a warning, when a new key is made)."""
    private_path = key_dir() / f"{DEVELOPMENT_KEY}.key"
    if not private_path.exists():
        log.warning("no development signing key at %s; making a new one", private_path)
        generate_key_pair(DEVELOPMENT_KEY)
    key = load_private_key(private_path)
    committed = trusted_dir / f"{DEVELOPMENT_KEY}.pub"
    pem = public_key_pem(key.public_key())
    if not committed.is_file() or committed.read_bytes() != pem:
        log.warning(
            "%s now holds this machine's development key (id %s): commit it with the bundle",
            committed,
            key_id(key.public_key()),
        )
        _write_atomic(committed, pem)
    return key


def sign(manifest_bytes: bytes, key: Ed25519PrivateKey) -> bytes:
    """The contents of ``signature.json`` for these exact manifest bytes."""
    return signature_document(key.sign(manifest_bytes), key_id(key.public_key()))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
