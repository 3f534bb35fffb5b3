"""The device's bundle store: installing a new model bundle safely, and going back.

Layout under ``<data_dir>/bundles``::

    <bundle_id>/            one folder per installed bundle (the newest ``keep`` are kept)
    current -> <bundle_id>  a relative symlink: what the appliance scores with
    installed.json          {"installed": [folder, ...] (install order), "current": folder}
    .install.lock           flock'd while an install or a rollback runs
    .staging-*              a bundle being unpacked (removed if an install dies)

An install: lock -> read the signature and the file list first, refuse on the first problem (see
:mod:`pianocoach.bundle.archive`: nothing is written before the signature passed) -> free-space check on
the sizes the signed manifest gives -> write only the listed files into ``.staging-*``, hashed as they are
written -> verify the staged folder (checksums again, feature hash, models) -> health check (a separate
process runs every model of the new bundle on built-in inputs) -> rename into place -> switch ``current`` (a new
symlink renamed over the old one: atomic) -> record -> prune. A failure at any step leaves ``current``
untouched, and a process killed at any step leaves either the old or the new bundle current, never a
broken one; the next install clears what the dead one left.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pianocoach.bundle.archive import unpack_verified
from pianocoach.bundle.manifest import Manifest
from pianocoach.bundle.signing import TrustedKey
from pianocoach.bundle.trust import device_keys
from pianocoach.bundle.verify import verify_bundle
from pianocoach.errors import BundleError, PianoCoachError

log = logging.getLogger(__name__)

CURRENT, RECORD, LOCK = "current", "installed.json", ".install.lock"
STAGING_PREFIX = ".staging-"
RESERVED = {CURRENT, RECORD, LOCK, f".{CURRENT}.tmp", f".{RECORD}.tmp"}
# Fault injection for the tests: the install SIGKILLs itself when it reaches this step.
KILL_AT_ENV = "PIANOCOACH_INSTALL_KILL_AT"
STEPS = ("locked", "unpacked", "verified", "health_checked", "moved", "switched", "recorded")
HEALTH_TIMEOUT_S = 180.0


class InstallError(PianoCoachError):
    """An install or rollback was refused or failed; the bundle that was current still is."""


@dataclass
class InstallResult:
    bundle_id: str
    folder: Path
    previous: str | None
    pruned: list[str] = field(default_factory=list)
    health: dict = field(default_factory=dict)
    seconds: float = 0.0


class BundleStore:
    def __init__(self, root: str | Path, keys: list[TrustedKey] | None = None, keep: int = 3) -> None:
        self.root = Path(root)
        self.keys = keys if keys is not None else device_keys()
        self.keep = max(2, keep)
        if self.root.is_symlink():  # the store's folders are its own: a link could point it at another store
            raise InstallError(f"{self.root}: the bundle store is a symbolic link; refused")

    # -- reading ---------------------------------------------------------------------------------
    @property
    def current_link(self) -> Path:
        return self.root / CURRENT

    def current(self) -> str | None:
        """The folder name ``current`` points to, or None."""
        return os.readlink(self.current_link) if self.current_link.is_symlink() else None

    def record(self) -> dict:
        path = self.root / RECORD
        if not path.is_file():
            return {"installed": [], "current": self.current()}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {"installed": [str(x) for x in data["installed"]], "current": data.get("current")}
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise InstallError(f"{path}: unreadable install record ({exc})") from None

    def status(self) -> dict:
        current = self.current()
        manifest = None
        if current:
            try:
                manifest = Manifest.read(self.root / current)
            except BundleError:
                manifest = None
        return {
            "root": str(self.root),
            "current": current,
            "bundle_id": manifest.bundle_id if manifest else None,
            "installed": [n for n in self.record()["installed"] if (self.root / n).is_dir()],
        }

    # -- installing ------------------------------------------------------------------------------
    def install(
        self,
        source: str | Path,
        health_check: bool = True,
        reserve_mb: float = 50.0,
        fd: int | None = None,
        health_timeout_s: float = HEALTH_TIMEOUT_S,
    ) -> InstallResult:
        """Install a bundle folder or ``.tar`` (``fd``: the ``.tar`` already opened by the caller, who has
        checked that very file; the store closes it). ``health_timeout_s``: how long the health check may take (an
        emulated board needs minutes)."""
        source = Path(source)
        started = time.perf_counter()
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked(fd):
            _checkpoint("locked")
            self._clear_leftovers()
            staging = self.root / f"{STAGING_PREFIX}{os.getpid()}-{int(time.time() * 1000)}"
            try:
                self._unpack(source, staging, reserve_mb, fd)
                fd = None  # closed by the reader
                _checkpoint("unpacked")
                check = verify_bundle(staging, self.keys)
                if not check.ok:
                    raise InstallError(f"{source}: refused: " + "; ".join(check.problems))
                assert check.manifest is not None  # a verification without problems has read the manifest
                bundle_id = check.manifest.bundle_id
                _checkpoint("verified")
                health = run_health_check(staging, health_timeout_s) if health_check else {"skipped": True}
                _checkpoint("health_checked")
                folder = self._free_name(bundle_id)
                os.rename(staging, folder)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            _checkpoint("moved")
            previous = self.current()
            self._switch(folder.name)
            _checkpoint("switched")
            record = self.record()
            installed = [n for n in record["installed"] if n != folder.name] + [folder.name]
            pruned = self._prune(installed, folder.name, previous)
            self._write_record([n for n in installed if n not in pruned], folder.name)
            _checkpoint("recorded")
        log.info("installed bundle %s (%s); previous %s", bundle_id, folder, previous)
        return InstallResult(bundle_id, folder, previous, pruned, health, time.perf_counter() - started)

    def rollback(self) -> tuple[str, str]:
        """Make the bundle installed before the current one current again: (from, to) folder names."""
        with self._locked():
            self._clear_leftovers()
            record = self.record()
            current = self.current()
            installed: list[str] = [n for n in record["installed"] if (self.root / n).is_dir()]
            if current not in installed:
                raise InstallError(f"{self.root}: nothing to roll back from (no current bundle installed here)")
            earlier = installed[: installed.index(current)]
            for name in reversed(earlier):
                check = verify_bundle(self.root / name, self.keys)
                if check.ok:
                    self._switch(name)
                    self._write_record(installed, name)
                    log.info("rolled back from %s to %s", current, name)
                    return current, name
                log.warning("%s: not usable for a rollback (%s)", name, "; ".join(check.problems))
            raise InstallError(f"{self.root}: no earlier bundle to roll back to (current: {current})")

    # -- steps -------------------------------------------------------------------------------------
    @contextmanager
    def _locked(self, fd: int | None = None) -> Iterator[None]:
        """The install lock; ``fd`` (a caller's open bundle) is closed if the lock cannot be had."""
        handle = open(self.root / LOCK, "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if fd is not None:
                    os.close(fd)
                raise InstallError(
                    f"{self.root / LOCK}: another install or rollback is running; try again when it ends"
                ) from None
            yield
        finally:
            handle.close()  # closing drops the lock; the kernel drops it too when a killed install dies

    def _clear_leftovers(self) -> None:
        """What a killed install left: staging folders, a half-made link, folders never recorded."""
        current = self.current()
        record = self.record()
        if current and current not in record["installed"] and (self.root / current).is_dir():
            log.warning("adopting %s: an install was stopped after switching to it", current)
            self._write_record(record["installed"] + [current], current)
            record = self.record()
        for path in self.root.iterdir():
            if path.name.startswith(STAGING_PREFIX) or path.name == f".{CURRENT}.tmp":
                log.warning("removing %s left by an install that did not finish", path.name)
                _remove(path)
            elif (
                path.is_dir()
                and not path.is_symlink()
                and not path.name.startswith(".")
                and path.name not in record["installed"]
                and path.name != current
            ):
                log.warning("removing %s: unpacked by an install that did not finish", path.name)
                _remove(path)

    def _unpack(self, source: Path, staging: Path, reserve_mb: float, fd: int | None = None) -> None:
        """Verify the signature and the file list, check the space the signed sizes need, then write
        only the listed files, hashed as they are written."""

        def check_space(manifest: Manifest) -> None:
            self._check_space(source, sum(entry.size for entry in manifest.files.values()), reserve_mb)

        try:
            unpack_verified(source, staging, self.keys, before_write=check_space, fd=fd)
        except BundleError as exc:
            raise InstallError(f"{source}: refused: {exc.problem}") from None
        except OSError as exc:
            raise InstallError(f"{source}: cannot unpack into {self.root} ({_os_problem(exc)})") from None

    def _check_space(self, source: Path, size: int, reserve_mb: float) -> None:
        free = shutil.disk_usage(self.root).free
        need = size + int(reserve_mb * 1e6)
        if free < need:
            raise InstallError(
                f"{source}: not enough free space in {self.root}: {need / 1e6:.1f} MB needed "
                f"(bundle {size / 1e6:.1f} MB + {reserve_mb:g} MB reserve), {free / 1e6:.1f} MB free"
            )

    def _free_name(self, bundle_id: str) -> Path:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", bundle_id) or "bundle"
        if base in RESERVED or base.startswith("."):  # the store's own names are never a bundle's folder
            base = f"bundle-{base.lstrip('.')}"
        candidate, n = self.root / base, 2
        while candidate.exists() or candidate.is_symlink():
            candidate, n = self.root / f"{base}.{n}", n + 1
        return candidate

    def _switch(self, name: str) -> None:
        tmp = self.root / f".{CURRENT}.tmp"
        _remove(tmp)
        os.symlink(name, tmp)
        os.replace(tmp, self.current_link)  # rename(2) over the old link: atomic
        _fsync_dir(self.root)

    def _write_record(self, installed: list[str], current: str) -> None:
        path = self.root / RECORD
        tmp = path.with_name(f".{RECORD}.tmp")
        tmp.write_text(json.dumps({"installed": installed, "current": current}, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        _fsync_dir(self.root)

    def _prune(self, installed: list[str], current: str, previous: str | None) -> list[str]:
        keep = set(installed[-self.keep :]) | {current} | ({previous} if previous else set())
        pruned = [n for n in installed if n not in keep]
        for name in pruned:
            _remove(self.root / name)
            log.info("removed old bundle %s", name)
        return pruned


def run_health_check(bundle: Path, timeout_s: float = HEALTH_TIMEOUT_S) -> dict:
    """Run every model of ``bundle`` on built-in inputs in a separate process (a model that crashes or
    hangs ONNX Runtime cannot take the installer down with it); its report, or InstallError. The child is
    ``python -I`` (no PYTHON* variables, no user site, no working folder on its path) started in ``/``."""
    command = [sys.executable, "-I", "-m", "pianocoach.scoring.health", str(bundle)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd="/")
    except subprocess.TimeoutExpired:
        raise InstallError(f"{bundle}: health check did not finish in {timeout_s:.0f} s") from None
    out_lines = done.stdout.strip().splitlines()
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or out_lines or [f"exit status {done.returncode}"]
        raise InstallError(f"health check failed: {lines[-1][:300]}")
    try:
        report = json.loads(out_lines[-1]) if out_lines else None
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict) or not report.get("healthy"):
        raise InstallError(
            f"health check failed: it did not report a healthy bundle (exit 0, output "
            f"{(out_lines[-1][:80] if out_lines else 'empty')!r})"
        )
    return report


def _checkpoint(step: str) -> None:
    if os.environ.get(KILL_AT_ENV) == step:
        log.warning("fault injection: killed at step %s", step)
        os.kill(os.getpid(), signal.SIGKILL)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_problem(exc: OSError) -> str:
    import errno

    return "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
