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
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pianocoach.errors import BundleError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "signature.json"
# Limits on what a bundle may claim: a manifest is read into memory before anything else, so it is capped.
MAX_MANIFEST_BYTES = 4 << 20  # the default bundle's manifest is 44 KB
MAX_FILES = 64
MAX_FILE_BYTES = 4 << 30  # one model file (a feedback GGUF of a 1.5B model is about 1 GB)
MAX_NAME_CHARS = 200
# A bundle id names a folder on the device and a file on the workstation: a plain name, never dot-led
# (the store's own working names start with a dot: ".staging-*", ".current.tmp").
BUNDLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
NAME_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def check_file_name(name: str) -> str | None:
    """None when ``name`` is a normalised relative path of plain parts (``models/x.onnx``); else the problem.
    Refused: absolute paths, ``..`` and ``.``, empty or dot-led parts, backslashes and other characters."""
    if not isinstance(name, str) or not name:
        return "an empty file name"
    if len(name) > MAX_NAME_CHARS:
        return f"a file name of {len(name)} characters"
    if name.startswith("/"):
        return f"an absolute path {name[:60]!r}"
    parts = name.split("/")
    bad = next((part for part in parts if not NAME_PART.fullmatch(part)), None)
    if bad is not None:
        return f"a file name that is not a plain relative path ({name[:60]!r})"
    if name in (MANIFEST_NAME, SIGNATURE_NAME):
        return f"{name} listed as a model file"
    return None


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
            role=str(data["role"]),
            file=str(data["file"]),
            architecture=str(data["architecture"]),
            precision=str(data["precision"]),
            opset=int(data["opset"]),
            inputs=tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
            labels=tuple(str(label) for label in data["labels"]),
            metrics=dict(data.get("metrics", {})),
            provenance=dict(data.get("provenance", {})),
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

    def heard_pedal_problem(self) -> str | None:
        """A transcription scorer that learned from the pedal a pedal model hears (its ``heard_pedal`` metric names
        that model's sha256) needs that very pedal model in the bundle: fed another model's pedal, or none, it would
        score what it never learned. None when the bundle is consistent."""
        from pianocoach.features.pedal_frames import PEDAL_EVENTS_VERSION

        return self._learned_from_problem(
            "heard_pedal", "pedal", "pedal_sha256", "events_version", PEDAL_EVENTS_VERSION, "pedal events"
        )

    def heard_velocity_problem(self) -> str | None:
        """The same for a transcription scorer that learned from the key velocities a velocity model hears (its
        ``heard_velocity`` metric names that model's sha256 and the spread it applied: the velocities depend on
        both)."""
        from pianocoach.features.note_velocity import NOTE_VELOCITY_VERSION

        problem = self._learned_from_problem(
            "heard_velocity", "velocity", "velocity_sha256", "features_version", NOTE_VELOCITY_VERSION, "note features"
        )
        scorer, carried = self.model("transcription_scorer"), self.model("velocity")
        learned = scorer.metrics.get("heard_velocity") if scorer is not None else None
        if problem or learned is None or carried is None:
            return problem
        assert isinstance(learned, dict)  # checked by _learned_from_problem
        if learned.get("spread") != carried.metrics.get("spread"):
            return (
                f"its transcription scorer learned velocities spread as {str(learned.get('spread'))[:80]}, the "
                f"bundle's velocity model spreads them as {str(carried.metrics.get('spread'))[:80]}: rebuild it "
                "(make bundle-transcription)"
            )
        return None

    def note_end_problem(self) -> str | None:
        """A note-end model reads the pedal a pedal model hears (its ``pedal_sha256`` metric names that model): fed
        another model's pedal, or none, its ends would be wrong. None when the bundle is consistent."""
        model = self.model("note_end")
        if model is None:
            return None
        wanted = model.metrics.get("pedal_sha256")
        if not (isinstance(wanted, str) and SHA256_HEX.fullmatch(wanted)):
            return "its note-end model does not name the pedal model it learned with (pedal_sha256)"
        pedal = self.model("pedal")
        found = self.files[pedal.file].sha256 if pedal is not None and pedal.file in self.files else None
        if found == wanted:
            return None
        return (
            f"its note-end model learned with the pedal heard by pedal model {wanted[:12]}, the bundle carries "
            f"{'pedal model ' + found[:12] if found else 'no pedal model'}: rebuild it (make note-end-model "
            "bundle-note-end)"
        )

    def _learned_from_problem(
        self, metric: str, role: str, sha_key: str, version_key: str, version: int, what: str
    ) -> str | None:
        """Whether the transcription scorer's ``metric`` (what it learned from: the ``role`` model of sha256
        ``sha_key``, whose output version ``version_key`` the device makes as ``version``) fits this bundle."""
        scorer = self.model("transcription_scorer")
        learned = scorer.metrics.get(metric) if scorer is not None else None
        if learned is None:
            return None
        wanted = learned.get(sha_key) if isinstance(learned, dict) else None
        if not (isinstance(wanted, str) and SHA256_HEX.fullmatch(wanted)):
            return f"its transcription scorer's {metric} does not name a {sha_key}"
        assert isinstance(learned, dict)  # for mypy: wanted came from it
        if learned.get(version_key) != version:
            return (
                f"its transcription scorer learned {what} version {str(learned.get(version_key))[:20]}, this device "
                f"makes version {version}: rebuild it (make bundle-transcription)"
            )
        carried = self.model(role)
        found = self.files[carried.file].sha256 if carried is not None and carried.file in self.files else None
        if found == wanted:
            return None
        has = f"{role} model {found[:12]}" if found else f"no {role} model"
        return (
            f"its transcription scorer learned from the {role} heard by {role} model {wanted[:12]}, the bundle carries "
            f"{has}: rebuild it (make bundle-transcription)"
        )

    def learned_heard_pedal(self) -> bool:
        """Whether the transcription scorer learned from the bundle's pedal model's pedal (a consistent bundle)."""
        scorer = self.model("transcription_scorer")
        return scorer is not None and scorer.metrics.get("heard_pedal") is not None and not self.heard_pedal_problem()

    def learned_heard_velocity(self) -> bool:
        """Whether the transcription scorer learned from the bundle's velocity model's velocities (consistent)."""
        scorer = self.model("transcription_scorer")
        learned = scorer is not None and scorer.metrics.get("heard_velocity") is not None
        return learned and not self.heard_velocity_problem()

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
        if len(raw) > MAX_MANIFEST_BYTES:
            raise BundleError(path, f"manifest of {len(raw)} bytes is larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: JSON, or a 4,300-digit number
            raise BundleError(path, f"not a readable manifest ({type(exc).__name__}: {str(exc)[:80]})") from None
        if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
            raise BundleError(path, "not a bundle manifest (no integer schema_version)")
        version = data["schema_version"]
        if version > SCHEMA_VERSION:
            raise BundleError(
                path,
                f"manifest schema {version} is newer than this device reads ({SCHEMA_VERSION}); "
                "update the device software first",
            )
        try:
            manifest = cls(
                schema_version=version,
                bundle_id=str(data["bundle_id"]),
                created=str(data["created"]),
                source_commit=str(data["source_commit"]),
                feature_settings=dict(data["feature_settings"]),
                feature_settings_sha256=str(data["feature_settings_sha256"]),
                files={str(k): FileEntry(str(v["sha256"]), int(v["size"])) for k, v in data["files"].items()},
                models=tuple(ModelEntry.from_dict(m) for m in data["models"]),
                audio_path=dict(data.get("audio_path", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:  # int(1e400): OverflowError
            raise BundleError(path, f"malformed manifest ({type(exc).__name__}: {str(exc)[:80]})") from None
        problem = manifest.problem()
        if problem:
            raise BundleError(path, f"malformed manifest: {problem}")
        return manifest

    def problem(self) -> str | None:
        """What makes this manifest unusable on a device (an unsafe id or file name, an impossible size),
        or None. Checked on every read, so nothing downstream sees such a name."""
        if not BUNDLE_ID.fullmatch(self.bundle_id):
            return (
                f"bundle id {self.bundle_id[:60]!r} is not a plain name (letters, digits, '.', '_', '-'; not dot-led)"
            )
        if not 0 < len(self.files) <= MAX_FILES:
            return f"{len(self.files)} files listed (1 to {MAX_FILES} allowed)"
        for name, entry in self.files.items():
            problem = check_file_name(name)
            if problem:
                return f"files lists {problem}"
            if not 0 <= entry.size <= MAX_FILE_BYTES:
                return f"{name}: size {entry.size} outside 0..{MAX_FILE_BYTES}"
            if not SHA256_HEX.fullmatch(entry.sha256):
                return f"{name}: sha256 is not 64 lowercase hex digits"
        names = set(self.files)
        for name in names:  # a listed file cannot also be a folder of other listed files
            if any(other.startswith(name + "/") for other in names):
                return f"{name} is listed both as a file and as a folder"
        for model in self.models:
            if model.file not in self.files:
                return f"model {model.role[:40]} file {model.file[:60]!r} is not listed in the manifest's files"
        return None

    @classmethod
    def read(cls, bundle_dir: str | Path) -> "Manifest":
        path = Path(bundle_dir) / MANIFEST_NAME
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise BundleError(path, "no such file (not a model bundle?)") from None
        return cls.from_bytes(raw, path)
