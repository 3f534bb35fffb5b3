"""The flashing gate: all that members of the ``pianocoach-flash`` group may run as the service user.

On the device, ``/usr/local/sbin/pianocoach-flash`` (root's, from ``firmware_config/``) starts this
module with an empty environment, ``/`` as the working directory and ``python -I`` (no ``PYTHON*``
variables, no user site-packages, nothing from the caller's folder on ``sys.path``), and sudoers lets
the group run that wrapper, and nothing else, as the service user. It accepts exactly these command
lines, with no options and no abbreviations::

    pianocoach-flash install NAME   # install STAGING/NAME: verify, health check, atomic switch, reload
    pianocoach-flash status         # the store's state as one JSON line
    pianocoach-flash rollback       # back to the bundle installed before the current one

``NAME`` is a plain file name (``^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\\.tar$``) in the staging folder
``/var/tmp/pianocoach-incoming`` (root's; group ``pianocoach-flash`` may add files, the sticky bit keeps
anyone but a file's owner from replacing or removing it). The file must be a regular file with one link,
not a symbolic link, and writable by nobody but its owner; the store opens it without following links.

What the gate never lets the caller choose: the data folder (``/var/lib/pianocoach``), a configuration
file or setting, the trusted keys (root's: :func:`pianocoach.bundle.trust.device_keys` with no
override), where the bundle comes from (only the staging folder), the Python that runs, its
environment and its working directory. So nothing the flash group can run changes what the device
trusts: an install or a rollback only ever makes current a bundle signed by a key root installed.

On success it prints what happened (the lines ``make flash`` relays); on any failure exactly one line on
stderr (``pianocoach-flash: ...``) and exit status 2, and nothing else (what the libraries below log or
print while it works is held back, and shown as ``note:`` lines only after a success).
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import stat
import sys
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Iterator, Sequence

from pianocoach.errors import PianoCoachError

DATA_DIR = Path("/var/lib/pianocoach")
STAGING_DIR = Path("/var/tmp/pianocoach-incoming")
PROG = "pianocoach-flash"
USAGE = f"usage: {PROG} install NAME.tar | {PROG} status | {PROG} rollback"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.tar")  # matched whole (re.fullmatch)
EXIT_REFUSED = 2
MAX_SHOWN = 160


class GateError(PianoCoachError):
    """The gate refused a command line, a staged file or a folder."""


def main(
    argv: Sequence[str] | None = None, data_dir: Path = DATA_DIR, staging: Path = STAGING_DIR, keys: list | None = None
) -> int:
    """Run one gate command; 0 on success, 2 (one line on stderr) on any refusal or failure.

    ``data_dir``, ``staging`` and ``keys`` are for tests and the loopback test device only: the real
    entry point (``python -I -m pianocoach.appliance.flash_gate``) passes none of them, so the device's
    fixed folders and its root-owned trust anchors are used.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    notes: list[str] = []
    try:
        command, name = parse(args)
        with _held_back(notes):
            lines = _run(command, name, Path(data_dir), Path(staging), keys)
    except PianoCoachError as exc:
        return _refuse(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _refuse(f"{where}{exc.strerror or exc}")
    except Exception as exc:  # a bug below: still one line, never a traceback
        return _refuse(f"unexpected error: {type(exc).__name__}: {exc}")
    for line in lines + [f"note: {note}" for note in notes]:
        print(line)
    sys.stdout.flush()
    return 0


def parse(argv: Sequence[str]) -> tuple[str, str | None]:
    """``(command, NAME or None)`` for an accepted command line; GateError for anything else."""
    if list(argv) in (["status"], ["rollback"]):
        return argv[0], None
    if len(argv) == 2 and argv[0] == "install":
        name = argv[1]
        if not NAME_PATTERN.fullmatch(name):
            raise GateError(
                f"refused bundle name {_shown(name)}: a plain file name in the staging folder, "
                "letters, digits, '.', '_' and '-', ending in .tar"
            )
        return "install", name
    raise GateError(f"refused arguments {_shown(list(argv))}; {USAGE}")


def staged_bundle(staging: Path, name: str) -> tuple[Path, int]:
    """``staging/name`` opened once (the checks and the install read that very file, whatever its name
    points to later): a regular file (not a link, not a FIFO) with one link, writable by its owner only,
    in a folder that is not a link, is root's (or this user's) and, when others may add files to it,
    sticky. Returns the path and the open descriptor."""
    _check_staging_folder(staging)
    path = staging / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise GateError(f"{path}: no such file (copy the bundle there first)") from None
    except OSError as exc:
        what = "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be opened ({exc.strerror})"
        raise GateError(f"{path}: {what}: refused") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GateError(f"{path}: not a regular file: refused")
        if info.st_nlink != 1:
            raise GateError(f"{path}: has {info.st_nlink} hard links: refused")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise GateError(f"{path}: writable by group or others (mode {stat.S_IMODE(info.st_mode):o}): refused")
    except BaseException:
        os.close(fd)
        raise
    return path, fd


def _real_folder(path: Path, missing: str) -> os.stat_result:
    """``path``'s own status (not a link's target), refusing anything but a real folder."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise GateError(f"{path}: {missing} (install.sh makes it)") from None
    if not stat.S_ISDIR(info.st_mode):
        raise GateError(f"{path}: not a folder (a link or a file): refused")
    return info


def _check_staging_folder(staging: Path) -> None:
    info = _real_folder(staging, "no staging folder")
    if info.st_uid not in (0, os.geteuid()):
        raise GateError(f"{staging}: owned by uid {info.st_uid}, not root: refused (install.sh makes it)")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
        raise GateError(
            f"{staging}: others may write it but it is not sticky (mode {stat.S_IMODE(info.st_mode):o}): refused"
        )


def _store_root(data_dir: Path, writing: bool) -> Path:
    """``data_dir/bundles``, refusing a data folder or store that is a link (or, to write, not this
    user's: run the gate as the service user)."""
    info = _real_folder(data_dir, "no such data folder")
    root = data_dir / "bundles"
    try:
        root_info = root.lstat()
    except FileNotFoundError:
        root_info = None
    if root_info is not None and not stat.S_ISDIR(root_info.st_mode):
        raise GateError(f"{root}: not a folder (a symbolic link or a file): refused")
    if writing:
        owner = (root_info or info).st_uid
        if owner != os.geteuid():
            raise GateError(
                f"{root if root_info else data_dir}: owned by uid {owner}, not this user "
                f"(uid {os.geteuid()}): run it as the service user (sudo -u pianocoach {PROG} ...)"
            )
    return root


def _run(command: str, name: str | None, data_dir: Path, staging: Path, keys: list | None) -> list[str]:
    from pianocoach.appliance.bundle_commands import notify_daemon
    from pianocoach.bundle.store import BundleStore
    from pianocoach.bundle.trust import device_keys

    root = _store_root(data_dir, writing=command != "status")
    staged = staged_bundle(staging, name) if command == "install" and name is not None else None
    store = BundleStore(root, keys if keys is not None else device_keys(allow_override=False))
    if command == "status":
        return [json.dumps(store.status(), default=str)]
    if command == "rollback":
        before, after = store.rollback()
        return [f"rolled back: {before} -> {after}", notify_daemon(data_dir)]
    assert staged is not None, f"{command!r} with no bundle name"  # parse() accepts install NAME only
    result = store.install(staged[0], fd=staged[1])  # the store reads (and closes) the descriptor checked here
    health = result.health or {}
    previous = result.previous or "none"
    pruned = f"; removed {', '.join(result.pruned)}" if result.pruned else ""
    return [
        f"installing {name} into {root}: verify, health check, switch",
        f"health check: {health.get('windows')} windows scored, overall {health.get('overall')}, "
        f"scales {health.get('scale_range')}",
        f"installed {result.bundle_id} as {Path(result.folder).name} (previous: {previous}) "
        f"in {result.seconds:.1f} s{pruned}",
        notify_daemon(data_dir),
    ]


class _Notes(logging.Handler):
    def __init__(self, notes: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.notes = notes

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.notes.append(_one_line(record.getMessage()))
        except Exception:  # a malformed log call must not fail the install
            pass


@contextmanager
def _held_back(notes: list[str]) -> Iterator[None]:
    """While the store works: its warnings are collected as notes, and whatever anything prints (Python
    or native code, on stdout or stderr) is dropped, so a failure is exactly one line."""
    root = logging.getLogger()
    handler = _Notes(notes)
    root.addHandler(handler)
    level = root.level
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    sink = io.StringIO()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with redirect_stdout(sink), redirect_stderr(sink):
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
        root.removeHandler(handler)
        root.setLevel(level)


def _refuse(message: str) -> int:
    print(f"{PROG}: {_one_line(message)}", file=sys.stderr)
    sys.stderr.flush()
    return EXIT_REFUSED


def _one_line(text: str) -> str:
    """One printable line: whitespace runs become one space, other control characters are escaped."""
    flat = " ".join(str(text).split()) or "failed"
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in flat)


def _shown(value: object) -> str:
    text = ascii(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def isolate() -> None:
    """What the real entry point does first: work from ``/`` and keep no ``PYTHON*`` or ``PIANOCOACH*``
    variable for the processes the install starts (the wrapper already gives an empty environment and
    ``/``; this holds even when the module is started some other way)."""
    os.chdir("/")
    for name in [n for n in os.environ if n.startswith(("PYTHON", "PIANOCOACH"))]:
        del os.environ[name]


if __name__ == "__main__":
    isolate()
    sys.exit(main())
