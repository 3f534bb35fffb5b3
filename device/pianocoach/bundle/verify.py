"""Verify a model bundle before the device uses it, in this order, each step only after the one before
passed: the signature over the manifest (against the device's trusted keys; the first problem stops
here), the manifest and the list of files against it (no links, no unlisted or missing files), every
file's size and sha256, the feature settings hash, and only then the models: each ONNX file is read
again, its hash compared once more, refused if it refers to external data, and opened in ONNX Runtime
from those very bytes with the inputs and outputs the manifest claims (a GGUF feedback model: its header).

A ``.tar`` is checked by unpacking it the verified way (:mod:`pianocoach.bundle.archive`) into a
temporary folder; nothing in it is extracted by ``tarfile``.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pianocoach.bundle.archive import FolderBundle, check_contents, shown, unpack_verified, verified_manifest
from pianocoach.bundle.manifest import Manifest, ModelEntry, TensorSpec
from pianocoach.bundle.onnx_refs import NotOnnx, external_references
from pianocoach.bundle.signing import TrustedKey
from pianocoach.errors import BundleError, BundleRejected
from pianocoach.features import DEFAULT_SETTINGS, FeatureSettings
from pianocoach.native_memory import give_back_free_memory

log = logging.getLogger(__name__)

# ONNX Runtime's type strings -> the numpy dtype names the manifest uses
ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(bool)": "bool",
    "tensor(float16)": "float16",
    "tensor(string)": "str",
}

# whether to keep a checked model's session, given the verified manifest
KeepSession = Callable[[Manifest, ModelEntry], bool]


@dataclass
class Verification:
    path: Path
    manifest: Manifest | None = None
    problems: list[str] = field(default_factory=list)
    sessions: dict = field(default_factory=dict)  # model file -> the ONNX Runtime session that checked it
    folder: Path | None = None  # the verified bundle folder (None for a .tar, checked in a temporary one)

    @property
    def ok(self) -> bool:
        return not self.problems


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_session(model: Path | bytes, threads: int = 0):
    """An ONNX Runtime CPU session on a model file or the model's bytes (``threads=1``: one thread, as the
    device scores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # bytes with "ORTM" at offset 4 would otherwise load as ONNX Runtime's own flatbuffer format, which the external
    # data scan (onnx_refs) never read: only ONNX protobuf is accepted
    options.add_session_config_entry("session.load_model_format", "ONNX")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    return ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"]
    )


def session_specs(model_path: Path, session=None) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inputs and outputs of an ONNX file as ONNX Runtime opens it."""
    session = session or open_session(model_path)

    def spec(arg) -> TensorSpec:
        shape = tuple(d if isinstance(d, (int, str)) else "?" for d in arg.shape)
        return TensorSpec(arg.name, shape, ORT_DTYPES.get(arg.type, arg.type))

    return tuple(spec(a) for a in session.get_inputs()), tuple(spec(a) for a in session.get_outputs())


def verify_bundle(
    path: str | Path,
    keys: list[TrustedKey] | None = None,
    settings: FeatureSettings = DEFAULT_SETTINGS,
    keep_sessions: bool = False,
    threads: int = 0,
    check_models: bool = True,
    keep: KeepSession | None = None,
    open_unkept: bool = True,
) -> Verification:
    """Check everything; ``Verification.problems`` is empty only when the bundle is fit to use. ``keys``:
    the trusted keys (default: the device's, :func:`pianocoach.bundle.trust.device_keys`).
    ``keep_sessions`` (folders only) keeps the sessions the check opened, so a scorer need not open
    each model twice (a tree ensemble's session holds tens of MB); ``keep`` (with it): only those of the models
    it accepts. ``open_unkept=False`` (with ``keep``): the other models are read, hashed again and parsed as
    self-contained ONNX, but ONNX Runtime does not open them. ``check_models=False`` stops after the signature,
    the files and their checksums (the bundle is intact, its models are not opened)."""
    if keys is None:
        from pianocoach.bundle.trust import device_keys

        keys = device_keys()
    path = Path(path)
    result = Verification(path)
    try:
        if path.is_dir():
            kept = (keep or _every_model) if keep_sessions else None
            opened = keep if (keep_sessions and keep is not None and not open_unkept) else None
            _verify_folder(path, keys, settings, result, kept, threads, check_models, opened)
        else:
            with tempfile.TemporaryDirectory(prefix="pianocoach-bundle-") as tmp:
                unpack_verified(path, Path(tmp) / "bundle", keys)
                _verify_folder(Path(tmp) / "bundle", keys, settings, result, None, threads, check_models)
                result.folder = None
    except BundleError as exc:
        result.problems.append(exc.problem)
    except (OSError, ValueError, ArithmeticError, RecursionError) as exc:  # whatever else a hostile file provokes
        result.problems.append(f"unreadable bundle ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]})")
    return result


def _verify_folder(
    folder: Path,
    keys: list[TrustedKey],
    settings: FeatureSettings,
    result: Verification,
    keep: KeepSession | None = None,
    threads: int = 0,
    check_models: bool = True,
    opened: KeepSession | None = None,
) -> None:
    """``keep``: which models' sessions to keep (None: none); ``opened``: which models ONNX Runtime opens (None:
    all; the others are parsed only)."""
    source = FolderBundle(folder)
    try:
        result.manifest = manifest = verified_manifest(source, keys)  # raises at the first problem
        result.problems += check_contents(source, manifest)
        for pairing in (manifest.heard_pedal_problem(), manifest.heard_velocity_problem(), manifest.note_end_problem()):
            if pairing:
                result.problems.append(pairing)
        if settings.sha256() != manifest.feature_settings_sha256:
            result.problems.append(
                f"feature settings hash {manifest.feature_settings_sha256[:12]} differs from this device's feature "
                f"code ({settings.sha256()[:12]}): the models were trained on other features"
            )
        if result.problems or not check_models:
            return  # no model is parsed unless the signature and every checksum passed
        result.folder = folder
        for model in manifest.models:
            if model.file.endswith(GGUF_SUFFIX):
                _check_gguf(source, model, result.problems)
                continue
            if opened is not None and not opened(manifest, model):
                _check_model_bytes(source, manifest, model, result.problems)
                continue
            session = _check_model(source, manifest, model, result.problems, threads)
            if keep is not None and session is not None and keep(manifest, model):
                result.sessions[model.file] = session
            del session  # a session not kept is freed before the next model is opened
            give_back_free_memory()  # and what parsing the model left: the peak is one model's parse at a time
    finally:
        source.close()


def verified_bytes(source: FolderBundle, manifest: Manifest, name: str) -> bytes:
    """A listed file's bytes, hashed again as they are read (the file may have changed since the
    checksum pass: what is used is exactly what was verified)."""
    entry = manifest.files[name]
    data = bytearray()
    for chunk in source.open(source.members()[name]):
        data += chunk
        if len(data) > entry.size:
            break
    if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise BundleError(source.path, f"{shown(name)}: changed since it was verified")
    return bytes(data)


def _check_model(source: FolderBundle, manifest: Manifest, model: ModelEntry, problems: list[str], threads: int = 0):
    """Open the model from its verified bytes and compare its inputs and outputs with the manifest;
    returns the session."""
    data = _check_model_bytes(source, manifest, model, problems)
    if data is None:
        return None
    try:
        session = open_session(data, threads)
        inputs, outputs = session_specs(source.path / model.file, session)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        problems.append(f"{model.file}: ONNX Runtime cannot open it ({str(exc).splitlines()[0][:200]})")
        return None
    for kind, claimed, actual in (("inputs", model.inputs, inputs), ("outputs", model.outputs, outputs)):
        if claimed != actual:
            problems.append(
                f"{model.file}: {kind} are {', '.join(t.describe() for t in actual)}; "
                f"the manifest says {', '.join(t.describe() for t in claimed)}"
            )
    widths = [o.shape[-1] for o in model.outputs if o.shape]
    columns = [w for w in widths if isinstance(w, int)]  # all of them, unless a width is symbolic
    if widths and len(columns) == len(widths) and sum(columns) != len(model.labels):
        problems.append(f"{model.file}: {sum(columns)} output columns but {len(model.labels)} label names")
    return session


def _check_model_bytes(
    source: FolderBundle, manifest: Manifest, model: ModelEntry, problems: list[str]
) -> bytes | None:
    """The model's verified bytes when they parse as a self-contained ONNX protobuf (None: a problem was added)."""
    try:
        data = verified_bytes(source, manifest, model.file)
        references = external_references(data)
    except NotOnnx as exc:
        problems.append(f"{model.file}: not an ONNX model ({exc})")
        return None
    except BundleError as exc:
        problems.append(exc.problem)
        return None
    if references:
        problems.append(
            f"{model.file}: refers to external data ({shown(references[0])}); bundle models must be self-contained"
        )
        return None
    return data


GGUF_SUFFIX = ".gguf"
GGUF_MAGIC = b"GGUF"


def _check_gguf(source: FolderBundle, model: ModelEntry, problems: list[str]) -> None:
    """A language model for llama.cpp: the GGUF header (magic, version 2 or 3, tensor count). Loading it
    is left to llama.cpp when feedback is asked for (which hashes the file again first)."""
    chunks = source.open(source.members()[model.file])
    head = next(chunks, b"")[:16]
    chunks.close()
    if len(head) < 16 or head[:4] != GGUF_MAGIC:
        problems.append(f"{model.file}: not a GGUF file (bad magic)")
        return
    version, tensors = int.from_bytes(head[4:8], "little"), int.from_bytes(head[8:16], "little")
    if version not in (2, 3) or tensors == 0:
        problems.append(f"{model.file}: GGUF version {version} with {tensors} tensors is not a model llama.cpp reads")


def load_verified(
    path: str | Path, keys: list[TrustedKey] | None = None, threads: int = 0, keep: KeepSession | None = None
) -> Verification:
    """Verify, or raise :class:`BundleRejected` listing every problem (the device keeps its old bundle).
    The returned verification holds the models' sessions, ready to run. ``keep``: only those it accepts are
    opened; every other model is still hashed again and parsed as self-contained ONNX, not opened by ONNX Runtime
    (the install's health check opened and ran every model before the bundle could become current; opening them
    all at every start cost about a third of the start here, more under emulation)."""
    result = verify_bundle(path, keys, keep_sessions=True, threads=threads, keep=keep, open_unkept=keep is None)
    give_back_free_memory()  # what the checks and the sessions not kept left in the heap
    if not result.ok:
        for problem in result.problems[1:]:  # the first is the exception's own message
            log.error("%s: also: %s", path, problem)
        raise BundleRejected(path, result.problems)
    return result


def _every_model(manifest: Manifest, model: ModelEntry) -> bool:
    return True
