"""Write a model bundle: copy the model files, write the manifest (the device's dataclass), sign it,
and pack the folder as a ``.tar``. The folder is built beside its destination and swapped in at the end,
so a failed build never leaves half a bundle.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pianocoach.bundle import MANIFEST_NAME, SIGNATURE_NAME, FileEntry, Manifest, ModelEntry, sha256_file
from pianocoach.bundle.verify import session_specs
from pianocoach.features import DEFAULT_SETTINGS, FeatureSettings
from pianocoach_export.signing import sign
from pianocoach_train.models.onnx_graphs import OPSET
from pianocoach_train.paths import REPO_ROOT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundleModel:
    """One model file going into a bundle, with what the manifest says about it."""

    role: str
    source: Path
    architecture: str
    precision: str
    labels: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> str:
        return f"models/{self.role}{'.gguf' if self.is_gguf else '.onnx'}"

    @property
    def is_gguf(self) -> bool:
        """A llama.cpp language model (the feedback model), not an ONNX graph."""
        return Path(self.source).suffix == ".gguf"


def models_from_bundle(bundle_dir: Path) -> tuple[list[BundleModel], dict[str, Any]]:
    """The models of an existing bundle (as written, with their metrics and provenance) and its audio
    path, to build a new bundle that adds to it (the feedback model joins the scorers this way)."""
    manifest = Manifest.read(bundle_dir)
    models = [
        BundleModel(
            m.role,
            Path(bundle_dir) / m.file,
            m.architecture,
            m.precision,
            tuple(m.labels),
            dict(m.metrics),
            dict(m.provenance),
        )
        for m in manifest.models
    ]
    return models, dict(manifest.audio_path)


def source_commit(repo: Path = REPO_ROOT) -> str:
    """The commit the code was built from, ``+dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "device", "host_training", "export"], cwd=repo
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def write_bundle(
    out_dir: Path,
    models: list[BundleModel],
    key: Ed25519PrivateKey,
    bundle_id: str,
    tar_path: Path | None = None,
    settings: FeatureSettings = DEFAULT_SETTINGS,
    audio_path: dict[str, Any] | None = None,
) -> Manifest:
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        entries = []
        for model in models:
            target = staging / model.file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model.source, target)
            if model.is_gguf:  # no ONNX graph: no opset, tensors or labels; the device checks its GGUF header
                entries.append(
                    ModelEntry(
                        model.role,
                        model.file,
                        model.architecture,
                        model.precision,
                        0,
                        (),
                        (),
                        (),
                        model.metrics,
                        model.provenance,
                    )
                )
                continue
            inputs, outputs = session_specs(target)
            entries.append(
                ModelEntry(
                    model.role,
                    model.file,
                    model.architecture,
                    model.precision,
                    OPSET,
                    inputs,
                    outputs,
                    tuple(model.labels),
                    model.metrics,
                    model.provenance,
                )
            )
        files = {
            p.relative_to(staging).as_posix(): FileEntry(sha256_file(p), p.stat().st_size)
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        manifest = Manifest(
            bundle_id=bundle_id,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            source_commit=source_commit(),
            feature_settings=settings.to_dict(),
            feature_settings_sha256=settings.sha256(),
            files=files,
            models=tuple(entries),
            audio_path=audio_path or {},
        )
        raw = manifest.to_bytes()
        (staging / MANIFEST_NAME).write_bytes(raw)
        (staging / SIGNATURE_NAME).write_bytes(sign(raw, key))
        os.chmod(staging, 0o755)
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if tar_path:
        pack(out_dir, tar_path)
    log.info("bundle %s written to %s%s", bundle_id, out_dir, f" and {tar_path}" if tar_path else "")
    return manifest


def _swap_in(staging: Path, out_dir: Path) -> None:
    old = out_dir.with_name(f".{out_dir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(staging, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def pack(bundle_dir: Path, tar_path: Path) -> Path:
    """The bundle's files at the archive root, in a stable order, written to a temporary name first."""
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tar_path.with_name(f".{tar_path.name}.tmp")
    with tarfile.open(tmp, "w") as tar:
        for file in sorted(p for p in bundle_dir.rglob("*") if p.is_file()):
            tar.add(file, arcname=file.relative_to(bundle_dir).as_posix())
    os.replace(tmp, tar_path)
    return tar_path
