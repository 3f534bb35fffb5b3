"""Ed25519 signatures over a bundle's manifest (the ``cryptography`` package).

``signature.json`` beside ``manifest.json`` holds ``{"algorithm": "ed25519", "key_id", "signature"}``:
the signature covers the manifest's exact bytes, and the manifest holds every other file's sha256, so
one signature covers the whole bundle. A device trusts the public keys of :mod:`pianocoach.bundle.trust`;
``key_id`` (the first 16 hex digits of the sha256 of the raw public key) says which one signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pianocoach.errors import SigningKeyError

ALGORITHM = "ed25519"
# Keys a device trusts out of the box: the development key that signs the committed default bundle.
PACKAGED_KEYS = Path(__file__).resolve().parent.parent / "data" / "trusted_keys"


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    name: str  # the file stem, e.g. "development"
    key: Ed25519PublicKey


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: str | Path) -> TrustedKey:
    path = Path(path)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise SigningKeyError(path, "no such public key file") from None
    except (OSError, ValueError, TypeError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise SigningKeyError(path, f"not a PEM public key ({reason})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(path, f"not an Ed25519 key ({type(key).__name__})")
    return TrustedKey(key_id(key), path.stem, key)


def trusted_keys(sources: list[str | Path] | None = None) -> list[TrustedKey]:
    """Public keys from ``.pub`` files and folders of them (default: the keys packaged with the device)."""
    keys: list[TrustedKey] = []
    for source in sources or [PACKAGED_KEYS]:
        source = Path(source)
        files = sorted(source.glob("*.pub")) if source.is_dir() else [source]
        keys.extend(load_public_key(f) for f in files)
    return keys


def signature_document(signature: bytes, signer_key_id: str) -> bytes:
    doc = {"algorithm": ALGORITHM, "key_id": signer_key_id, "signature": base64.b64encode(signature).decode("ascii")}
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def check_signature(manifest_bytes: bytes, signature_bytes: bytes, keys: list[TrustedKey]) -> str | None:
    """None when a trusted key signed exactly these manifest bytes; otherwise the problem, in words."""
    try:
        doc = json.loads(signature_bytes.decode("utf-8"))
        algorithm, signer, signature = (
            doc["algorithm"],
            doc["key_id"],
            base64.b64decode(doc["signature"], validate=True),
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as exc:
        return f"signature file is malformed ({type(exc).__name__})"
    if algorithm != ALGORITHM:
        return f"signature algorithm {algorithm!r} is not {ALGORITHM}"
    key = next((k for k in keys if k.key_id == signer), None)
    if key is None:
        known = ", ".join(f"{k.name} {k.key_id}" for k in keys) or "none"
        return f"signed by key {signer}, which this device does not trust (trusted: {known})"
    try:
        key.key.verify(signature, manifest_bytes)
    except InvalidSignature:
        return f"signature does not match manifest.json (key {key.name} {signer}): changed after signing?"
    return None
