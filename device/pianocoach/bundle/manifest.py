"""The bundle manifest: one dataclass that writes ``manifest.json`` on the host and reads it on the device.

Schema (version 1)::

    schema_version, bundle_id, created (UTC ISO 8601), source_commit,
    feature_settings (the frozen FeatureSettings as a dict), feature_settings_sha256,
    files:  {relative path: {sha256, size}}  for every file in the bundle except manifest and signature
    models: [{role, file, architecture, precision, opset, inputs, outputs, labels, metrics, provenance}]
            inputs/outputs: [{name, shape (ints, or names of dynamic axes), dtype (numpy name)}]
    audio_path (optional): how microphone input is scored, {mode, audio_weight, measured}; mode is
            "audio_model" (the audio_scorer alone), "fusion" (audio_weight x audio_scorer + the rest x
            transcription_scorer) or "transcription" (the transcription_scorer alone)

The manifest is signed as written (its exact bytes); see :mod:`pianocoach.bundle.signing`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pianocoach.errors import BundleError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "signature.json"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]  # an int for a fixed axis, a name for a dynamic one
    dtype: str  # numpy dtype name, e.g. "float32"

    @classmethod
    def from_dict(cls, data: dict) -> "TensorSpec":
        return cls(str(data["name"]), tuple(data["shape"]), str(data["dtype"]))

    def describe(self) -> str:
        return f"{self.name} {self.dtype}[{', '.join(str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelEntry:
    role: str  # what the device uses it for: "midi_scorer", "audio_scorer", "jianzipu_reader", "feedback_llm" (GGUF)
    file: str  # path inside the bundle
    architecture: str  # e.g. "blend" (extra trees + gradient boosting + MLP)
    precision: str  # "int8" or "float32"
    opset: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[str, ...]  # output columns, in order over all outputs (the 19 scales; "head:class" for the reader)
    metrics: dict[str, Any] = field(default_factory=dict)  # measured at export
    provenance: dict[str, Any] = field(default_factory=dict)  # split, excluded ids, data hash, config

    @classmethod
    def from_dict(cls, data: dict) -> "ModelEntry":
        return cls(
            role=str(data["role"]), file=str(data["file"]), architecture=str(data["architecture"]),
            precision=str(data["precision"]), opset=int(data["opset"]),
            inputs=tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
            labels=tuple(str(label) for label in data["labels"]),
            metrics=dict(data.get("metrics", {})), provenance=dict(data.get("provenance", {})),
        )


@dataclass(frozen=True)
class Manifest:
    bundle_id: str
    created: str
    source_commit: str
    feature_settings: dict[str, Any]
    feature_settings_sha256: str
    files: dict[str, FileEntry]
    models: tuple[ModelEntry, ...]
    audio_path: dict[str, Any] = field(default_factory=dict)  # optional: a bundle without it reads as before
    schema_version: int = SCHEMA_VERSION

    def model(self, role: str) -> ModelEntry | None:
        return next((m for m in self.models if m.role == role), None)

    def to_dict(self) -> dict:
        data = asdict(self)
        # schema_version first: a reader checks it before anything else
        return {"schema_version": data.pop("schema_version"), **data}

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes, path: str | Path = MANIFEST_NAME) -> "Manifest":
        """Parse manifest bytes; an unreadable manifest or one from a newer schema raises BundleError."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(path, f"not a readable manifest ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
            raise BundleError(path, "not a bundle manifest (no integer schema_version)")
        version = data["schema_version"]
        if version > SCHEMA_VERSION:
            raise BundleError(path, f"manifest schema {version} is newer than this device reads ({SCHEMA_VERSION}); "
                                    "update the device software first")
        try:
            return cls(
                schema_version=version, bundle_id=str(data["bundle_id"]), created=str(data["created"]),
                source_commit=str(data["source_commit"]), feature_settings=dict(data["feature_settings"]),
                feature_settings_sha256=str(data["feature_settings_sha256"]),
                files={str(k): FileEntry(str(v["sha256"]), int(v["size"])) for k, v in data["files"].items()},
                models=tuple(ModelEntry.from_dict(m) for m in data["models"]),
                audio_path=dict(data.get("audio_path", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(path, f"malformed manifest ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def read(cls, bundle_dir: str | Path) -> "Manifest":
        path = Path(bundle_dir) / MANIFEST_NAME
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise BundleError(path, "no such file (not a model bundle?)") from None
        return cls.from_bytes(raw, path)
