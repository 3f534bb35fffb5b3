"""Verify a model bundle before the device uses it: signature, checksums, schema, feature hash, and
that each ONNX file opens in ONNX Runtime with the inputs and outputs the manifest claims (a GGUF
feedback model: that its header is a llama.cpp model's).

Every problem is reported (one line each), so a refused bundle says everything that is wrong with it.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pianocoach.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, Manifest, ModelEntry, TensorSpec
from pianocoach.bundle.signing import TrustedKey, check_signature, trusted_keys
from pianocoach.errors import BundleError, BundleRejected
from pianocoach.features import DEFAULT_SETTINGS, FeatureSettings

log = logging.getLogger(__name__)

# ONNX Runtime's type strings -> the numpy dtype names the manifest uses
ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(uint8)": "uint8", "tensor(int8)": "int8", "tensor(bool)": "bool",
              "tensor(float16)": "float16", "tensor(string)": "str"}


@dataclass
class Verification:
    path: Path
    manifest: Manifest | None = None
    problems: list[str] = field(default_factory=list)
    sessions: dict = field(default_factory=dict)  # model file -> the ONNX Runtime session that checked it

    @property
    def ok(self) -> bool:
        return not self.problems


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def bundle_directory(path: str | Path) -> Iterator[Path]:
    """The bundle as a folder: the folder itself, or a ``.tar`` unpacked into a temporary folder."""
    path = Path(path)
    if path.is_dir():
        yield path
        return
    if not path.exists():
        raise BundleError(path, "no such bundle (expected a folder or a .tar)")
    with tempfile.TemporaryDirectory(prefix="pianocoach-bundle-") as tmp:
        try:
            with tarfile.open(path) as tar:
                tar.extractall(tmp, filter="data")  # "data" refuses absolute paths, links out and devices
        except (tarfile.TarError, OSError) as exc:
            raise BundleError(path, f"not a readable bundle archive ({exc})") from exc
        yield Path(tmp)


def open_session(model_path: Path, threads: int = 0):
    """An ONNX Runtime CPU session (``threads=1``: one thread, as the device scores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def session_specs(model_path: Path, session=None) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inputs and outputs of an ONNX file as ONNX Runtime opens it."""
    session = session or open_session(model_path)

    def spec(arg) -> TensorSpec:
        shape = tuple(d if isinstance(d, (int, str)) else "?" for d in arg.shape)
        return TensorSpec(arg.name, shape, ORT_DTYPES.get(arg.type, arg.type))

    return tuple(spec(a) for a in session.get_inputs()), tuple(spec(a) for a in session.get_outputs())


def verify_bundle(path: str | Path, keys: list[TrustedKey] | None = None,
                  settings: FeatureSettings = DEFAULT_SETTINGS, keep_sessions: bool = False, threads: int = 0) -> Verification:
    """Check everything; ``Verification.problems`` is empty only when the bundle is fit to use.
    ``keep_sessions`` (folders only) keeps the sessions the check opened, so a scorer need not open
    each model twice (a tree ensemble's session holds tens of MB)."""
    result = Verification(Path(path))
    try:
        with bundle_directory(path) as folder:
            _verify_folder(folder, keys if keys is not None else trusted_keys(), settings, result, keep_sessions, threads)
    except BundleError as exc:
        result.problems.append(exc.problem)
    return result


def _verify_folder(folder: Path, keys: list[TrustedKey], settings: FeatureSettings, result: Verification,
                   keep_sessions: bool = False, threads: int = 0) -> None:
    manifest_path, signature_path = folder / MANIFEST_NAME, folder / SIGNATURE_NAME
    if not manifest_path.is_file():
        result.problems.append(f"missing {MANIFEST_NAME} (not a model bundle?)")
        return
    raw = manifest_path.read_bytes()
    if not signature_path.is_file():
        result.problems.append(f"missing {SIGNATURE_NAME}: the bundle is not signed")
    else:
        problem = check_signature(raw, signature_path.read_bytes(), keys)
        if problem:
            result.problems.append(problem)
    try:
        manifest = Manifest.from_bytes(raw, manifest_path)
    except BundleError as exc:
        result.problems.append(exc.problem)
        return
    result.manifest = manifest
    if settings.sha256() != manifest.feature_settings_sha256:
        result.problems.append(
            f"feature settings hash {manifest.feature_settings_sha256[:12]} differs from this device's feature code "
            f"({settings.sha256()[:12]}): the models were trained on other features"
        )
    intact = _check_files(folder, manifest, result.problems)
    for model in manifest.models:
        if model.file not in manifest.files:
            result.problems.append(f"model {model.role} file {model.file} is not listed in the manifest's files")
        elif model.file in intact and model.file.endswith(GGUF_SUFFIX):
            _check_gguf(folder / model.file, result.problems)
        elif model.file in intact:
            session = _check_model(folder / model.file, model, result.problems, threads)
            if keep_sessions and session is not None:
                result.sessions[model.file] = session


def _check_files(folder: Path, manifest: Manifest, problems: list[str]) -> set[str]:
    """Checksums and sizes; returns the files that match. Unlisted files are problems too."""
    intact = set()
    for name, entry in sorted(manifest.files.items()):
        file = folder / name
        if not file.is_file():
            problems.append(f"missing file {name}")
        elif file.stat().st_size != entry.size:
            problems.append(f"{name}: size {file.stat().st_size} bytes, manifest says {entry.size}")
        elif sha256_file(file) != entry.sha256:
            problems.append(f"{name}: sha256 differs from the manifest (changed or corrupted)")
        else:
            intact.add(name)
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for name in sorted(present - set(manifest.files) - {MANIFEST_NAME, SIGNATURE_NAME}):
        problems.append(f"unexpected file {name} (not in the manifest)")
    return intact


def _check_model(path: Path, model: ModelEntry, problems: list[str], threads: int = 0):
    """Open the model and compare its inputs and outputs with the manifest; returns the session."""
    try:
        session = open_session(path, threads)
        inputs, outputs = session_specs(path, session)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        problems.append(f"{model.file}: ONNX Runtime cannot open it ({str(exc).splitlines()[0]})")
        return None
    for kind, claimed, actual in (("inputs", model.inputs, inputs), ("outputs", model.outputs, outputs)):
        if claimed != actual:
            problems.append(
                f"{model.file}: {kind} are {', '.join(t.describe() for t in actual)}; "
                f"the manifest says {', '.join(t.describe() for t in claimed)}"
            )
    widths = [o.shape[-1] for o in model.outputs if o.shape]
    if widths and all(isinstance(w, int) for w in widths) and sum(widths) != len(model.labels):
        problems.append(f"{model.file}: {sum(widths)} output columns but {len(model.labels)} label names")
    return session


GGUF_SUFFIX = ".gguf"
GGUF_MAGIC = b"GGUF"


def _check_gguf(path: Path, problems: list[str]) -> None:
    """A language model for llama.cpp: the GGUF header (magic, version 2 or 3, tensor count). Loading it
    is left to llama.cpp when feedback is asked for; the checksum already guarantees the bytes."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if len(head) < 16 or head[:4] != GGUF_MAGIC:
        problems.append(f"{path.name}: not a GGUF file (bad magic)")
        return
    version, tensors = int.from_bytes(head[4:8], "little"), int.from_bytes(head[8:16], "little")
    if version not in (2, 3) or tensors == 0:
        problems.append(f"{path.name}: GGUF version {version} with {tensors} tensors is not a model llama.cpp reads")


def load_verified(path: str | Path, keys: list[TrustedKey] | None = None, threads: int = 0) -> Verification:
    """Verify, or raise :class:`BundleRejected` listing every problem (the device keeps its old bundle).
    The returned verification holds the models' sessions, ready to run."""
    result = verify_bundle(path, keys, keep_sessions=True, threads=threads)
    if not result.ok:
        for problem in result.problems:
            log.error("%s: %s", path, problem)
        raise BundleRejected(path, result.problems)
    return result
