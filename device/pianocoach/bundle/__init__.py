"""Model bundles: the manifest, Ed25519 signatures and verification (the device's side of export)."""

from pathlib import Path

from pianocoach.bundle.manifest import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    SIGNATURE_NAME,
    FileEntry,
    Manifest,
    ModelEntry,
    TensorSpec,
)
from pianocoach.bundle.verify import Verification, load_verified, sha256_file, verify_bundle

# the bundle a freshly installed device and `make demo` use (rebuilt by `make bundle`)
DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "data" / "default_bundle"

__all__ = [
    "DEFAULT_BUNDLE",
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "SIGNATURE_NAME",
    "FileEntry",
    "Manifest",
    "ModelEntry",
    "TensorSpec",
    "Verification",
    "load_verified",
    "sha256_file",
    "verify_bundle",
]
