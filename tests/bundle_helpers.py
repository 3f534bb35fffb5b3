"""Making bundles for tests: re-signed copies of the built-in bundle, packed as .tar."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pianocoach.bundle import DEFAULT_BUNDLE, MANIFEST_NAME, SIGNATURE_NAME
from pianocoach.bundle.signing import key_id, public_key_pem, signature_document
from pianocoach.bundle.trust import TRUST_DIR_ENV


def pack(folder: Path, tar_path: Path) -> Path:
    with tarfile.open(tar_path, "w") as tar:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            tar.add(file, arcname=file.relative_to(folder).as_posix())
    return tar_path


def resign(folder: Path, key: Ed25519PrivateKey, **manifest_changes) -> Path:
    """Change manifest fields and sign the result with ``key``."""
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest.update(manifest_changes)
    raw = (json.dumps(manifest, indent=2) + "\n").encode()
    (folder / MANIFEST_NAME).write_bytes(raw)
    (folder / SIGNATURE_NAME).write_bytes(signature_document(key.sign(raw), key_id(key.public_key())))
    return folder


def signed_copy(out: Path, key: Ed25519PrivateKey, bundle_id: str, source: Path = DEFAULT_BUNDLE) -> Path:
    """The built-in bundle's models under a new id, signed by ``key``."""
    shutil.copytree(source, out)
    return resign(out, key, bundle_id=bundle_id)


def trust(folder: Path, key: Ed25519PrivateKey, name: str = "test-release") -> Path:
    """Trust ``key`` as a device does: its public half in ``<folder>/trusted_keys/``, made the trust folder
    (``PIANOCOACH_TRUSTED_KEYS``, which stands in for root's /etc/pianocoach/trusted_keys in tests; the
    conftest fixture restores it after each test). Returns the trust folder."""
    folder = folder / "trusted_keys"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.pub").write_bytes(public_key_pem(key.public_key()))
    os.environ[TRUST_DIR_ENV] = str(folder)
    return folder


def bundle_with_scorer_metrics(tmp_path: Path, monkeypatch, transcription_metrics: dict, drop_roles=()):
    """A signed copy of the default bundle whose transcription scorer states ``transcription_metrics`` (and without the
    models of ``drop_roles``): :func:`bundle_with_model_metrics`."""
    return bundle_with_model_metrics(tmp_path, monkeypatch, "transcription_scorer", transcription_metrics, drop_roles)


def bundle_with_model_metrics(tmp_path: Path, monkeypatch, role: str, metrics: dict, drop_roles=()):
    """A signed copy of the default bundle whose model of ``role`` states ``metrics`` (and without the models of
    ``drop_roles``), written without the exporter's own checks (as a hostile or mistaken bundle would come), its key
    trusted; returns (folder, models). Host tests only: it writes with the exporter."""
    import dataclasses

    import pianocoach.bundle
    from pianocoach_export.bundle_additions import with_model
    from pianocoach_export.bundle_assembly import bundle_id, signing_key
    from pianocoach_export.bundle_writer import models_from_bundle, write_bundle
    from pianocoach_export.signing import generate_key_pair

    models, audio_path = models_from_bundle(pianocoach.bundle.DEFAULT_BUNDLE)  # read now: tests may point it elsewhere
    changed = next(m for m in models if m.role == role)
    models = with_model(models, dataclasses.replace(changed, metrics=metrics))
    models = [m for m in models if m.role not in drop_roles]
    key_path, public = tmp_path / "keys" / "test.key", tmp_path / "keys" / "test.pub"
    if not key_path.exists():
        key_path, public = generate_key_pair("test", tmp_path / "keys")
    out = tmp_path / f"bundle-{len(list(tmp_path.glob('bundle-*')))}"
    write_bundle(out, models, signing_key(key_path), bundle_id("test"), None, audio_path=audio_path)
    trusted = tmp_path / "trust"
    trusted.mkdir(exist_ok=True)
    shutil.copy(public, trusted / public.name)
    monkeypatch.setenv(TRUST_DIR_ENV, str(trusted))
    return out, models
