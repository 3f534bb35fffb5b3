"""Flashing a model bundle to devices over SSH (``make flash``): check it here, copy it to the device's
staging folder (``scp`` to a ``.part`` name, then renamed there), have the device's flashing gate install
it (verify, health check, atomic switch, reload), remove the copy, report the device's state.

On the device, members of the ``pianocoach-flash`` group may run one thing as the service user: the
root-owned gate ``/usr/local/sbin/pianocoach-flash`` (``firmware_config/pianocoach-flash``,
:mod:`pianocoach.appliance.flash_gate`), which accepts exactly ``install NAME.tar`` (a file in the
staging folder ``/var/tmp/pianocoach-incoming``), ``status`` and ``rollback``. Its data folder and trusted
keys are fixed on the device: nothing sent from here chooses them.

SSH runs with ``BatchMode=yes``: keys only (an agent or ``--identity``), never a password prompt and no
password in any file. Many devices: an inventory TOML::

    [defaults]                       # optional; any device key
    port = 22

    [[device]]
    name = "studio-1"
    host = "pi@studio-1.local"

Device keys: ``name``, ``host`` (``user@host``; one that starts with ``-`` or holds spaces or control
characters is refused), ``port``, ``identity``, ``ssh_options``, ``staging`` (must match the device's,
``/var/tmp/pianocoach-incoming``), ``pianocoach`` (the gate command, default
``sudo -n -u pianocoach /usr/local/sbin/pianocoach-flash``; the tests point it at a loopback test gate)
and ``data_dir`` (accepted for older inventories and ignored: the gate's data folder is fixed).

Each device is flashed in turn; one that fails does not stop the others, and the report says per device.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable

from pianocoach.bundle import sha256_file, verify_bundle
from pianocoach.bundle.signing import PACKAGED_KEYS, trusted_keys
from pianocoach.errors import PianoCoachError
from pianocoach.toml_config import fill_dataclass, read_toml

log = logging.getLogger(__name__)

SSH_TIMEOUT_S = 15
INSTALL_TIMEOUT_S = 600
GATE = "sudo -n -u pianocoach /usr/local/sbin/pianocoach-flash"  # install.sh allows it to pianocoach-flash
DEFAULT_DATA_DIR = "/var/lib/pianocoach"
STAGING = "/var/tmp/pianocoach-incoming"
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")  # a staging folder: absolute, nothing a shell or scp reads twice


class FlashError(PianoCoachError):
    """Flashing could not start (no bundle, a bad inventory, a bundle refused here)."""


@dataclass(frozen=True)
class Device:
    host: str  # user@host
    name: str = ""
    port: int = 22
    data_dir: str = DEFAULT_DATA_DIR  # ignored (kept so older inventories still read): the gate's is fixed
    pianocoach: str = GATE  # the flashing gate on the device: `<this> install NAME.tar`, `<this> status`
    staging: str = STAGING  # where the bundle is copied (the device's gate reads it only there)
    identity: str = ""  # a private key file; empty: ssh's own (agent, ~/.ssh)
    ssh_options: tuple[str, ...] = ()  # extra -o options, e.g. "UserKnownHostsFile=..."

    @property
    def label(self) -> str:
        return self.name or self.host

    @property
    def staging_dir(self) -> str:
        return self.staging.rstrip("/")


@dataclass
class FlashResult:
    device: str
    ok: bool
    message: str
    bundle_id: str = ""
    current: str = ""
    seconds: float = 0.0
    output: list[str] = field(default_factory=list)


def read_inventory(path: Path, base: Device | None = None) -> list[Device]:
    data = read_toml(path, FlashError, "inventory file")
    known = {f.name for f in fields(Device)}
    defaults = data.get("defaults", {})
    entries = data.get("device", [])
    if not isinstance(defaults, dict) or not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FlashError(f"{path}: expected an optional [defaults] table and [[device]] entries")
    devices = []
    for number, entry in enumerate(entries, 1):
        merged = {**defaults, **entry}
        unknown = set(merged) - known
        if unknown or "host" not in merged:
            problem = f"unknown keys {', '.join(sorted(unknown))}" if unknown else "no host"
            raise FlashError(f"{path}: device {number}: {problem} (keys: {', '.join(sorted(known))})")
        device = fill_dataclass(Device, merged, f"{path}: device {number}:", error=FlashError)
        check_device(device, f"{path}: device {number}" + (f" ({_shown(device.name)})" if device.name else ""))
        devices.append(
            replace(
                device,
                identity=device.identity or (base.identity if base else ""),
                ssh_options=device.ssh_options + (base.ssh_options if base else ()),
            )
        )
    if not devices:
        raise FlashError(f"{path}: no [[device]] entries")
    return devices


def check_device(device: Device, where: str) -> None:
    """Refuse (one line, naming ``where``) what would reach ssh or the device's shell as something else
    than meant: a host that ssh would read as an option, spaces or control characters, a bad port or
    staging folder."""
    host = device.host
    if not isinstance(host, str) or not host:
        raise FlashError(f"{where}: no host")
    if host.startswith("-"):
        raise FlashError(f"{where}: host {_shown(host)} starts with '-' (ssh would read it as an option): refused")
    if any(ch.isspace() or not ch.isprintable() for ch in host):
        raise FlashError(f"{where}: host {_shown(host)} holds spaces or control characters: refused")
    if isinstance(device.port, bool) or not isinstance(device.port, int) or not 0 < device.port < 65536:
        raise FlashError(f"{where}: port {_shown(device.port)} is not a TCP port number: refused")
    if (
        not isinstance(device.staging, str)
        or not SAFE_PATH.fullmatch(device.staging)
        or ".." in device.staging.split("/")
    ):
        raise FlashError(
            f"{where}: staging {_shown(device.staging)} is not an absolute path of letters, digits, "
            "'.', '_', '-' and '/': refused"
        )
    if (
        not isinstance(device.pianocoach, str)
        or not device.pianocoach.strip()
        or any(not ch.isprintable() for ch in device.pianocoach)
    ):
        raise FlashError(f"{where}: pianocoach {_shown(device.pianocoach)} is not a command line: refused")
    for option in device.ssh_options:
        if not isinstance(option, str) or not option or not option.isprintable():
            raise FlashError(f"{where}: ssh option {_shown(option)} is not KEY=VALUE text: refused")


def check_bundle_here(bundle: Path, key_dirs: list[Path]) -> str:
    """Refuse to send a bundle that would be refused there anyway; returns its id."""
    keys = trusted_keys([PACKAGED_KEYS, *[d for d in key_dirs if d.exists()]])
    check = verify_bundle(bundle, keys)
    if not check.ok:
        raise FlashError(f"{bundle}: not flashed, it does not verify here: " + "; ".join(check.problems))
    return check.manifest.bundle_id


def as_tar(bundle: Path, work: Path) -> Path:
    """The bundle as one ``.tar`` (a folder is packed the way export packs it, under a fixed name: never
    one taken from the bundle id, which is the bundle's to choose)."""
    if bundle.is_file():
        return bundle
    from pianocoach_export.bundle_writer import pack

    return pack(bundle, work / "bundle.tar")


def remote_name(tar: Path) -> str:
    """The name the copy gets on the device: ``bundle-<first 12 hex digits of its sha256>.tar`` (the
    device's gate accepts only plain names; nothing of the local file name or the bundle id is used)."""
    return f"bundle-{sha256_file(tar)[:12]}.tar"


def _ssh(device: Device) -> list[str]:
    command = ["ssh", "-p", str(device.port), "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT_S}"]
    if device.identity:
        command += ["-i", device.identity, "-o", "IdentitiesOnly=yes"]
    for option in device.ssh_options:
        command += ["-o", option]
    return command + ["--", device.host]


def _scp(device: Device, source: Path, target: str) -> list[str]:
    command = ["scp", "-q", "-P", str(device.port), "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT_S}"]
    if device.identity:
        command += ["-i", device.identity, "-o", "IdentitiesOnly=yes"]
    for option in device.ssh_options:
        command += ["-o", option]
    return command + ["--", str(source), f"{device.host}:{target}"]


def flash_device(device: Device, tar: Path, say: Callable[[str], None] = print, name: str = "") -> FlashResult:
    started = time.perf_counter()
    result = FlashResult(device.label, False, "")
    name = name or remote_name(tar)
    staging = device.staging_dir
    remote_tar = f"{staging}/{name}"
    q = shlex.quote
    gate = device.pianocoach

    def step(what: str, command: list[str], timeout: float = SSH_TIMEOUT_S * 4) -> subprocess.CompletedProcess:
        say(f"[{device.label}] {what}")
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        for line in (done.stdout + done.stderr).splitlines():
            if line.strip():
                result.output.append(line)
                say(f"[{device.label}]   {line}")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()
            raise FlashError(f"{what}: {tail[-1] if tail else f'exit status {done.returncode}'}")
        return done

    try:
        check_device(device, f"device {_shown(device.label)}")
        if device.data_dir != DEFAULT_DATA_DIR:
            say(f"[{device.label}] note: data_dir {device.data_dir} is ignored: the device's gate uses its own")
        # the staging folder is the device's (root's, made by install.sh): checked, never made or chmod'ed here
        step(
            f"connect and check {staging}",
            _ssh(device)
            + [
                f"test -d {q(staging)} && test -w {q(staging)} && test -x {q(staging)} || "
                f"{{ echo {q(staging + ': no staging folder this user may write (install.sh makes it)')} >&2; "
                "exit 1; }"
            ],
        )
        try:
            step(
                f"copy {name} ({tar.stat().st_size / 1e6:.1f} MB)",
                _scp(device, tar, remote_tar + ".part"),
                timeout=INSTALL_TIMEOUT_S,
            )
            # readable by the service user whatever this user's umask, writable by no one else
            step(
                "move it into place",
                _ssh(device)
                + [f"chmod 0644 {q(remote_tar + '.part')} && mv -f {q(remote_tar + '.part')} {q(remote_tar)}"],
            )
            step(
                "install (verify, health check, switch, reload)",
                _ssh(device) + [f"{gate} install {q(name)}"],
                timeout=INSTALL_TIMEOUT_S,
            )
        finally:
            subprocess.run(
                _ssh(device) + [f"rm -f {q(remote_tar)} {q(remote_tar + '.part')}"],
                capture_output=True,
                timeout=SSH_TIMEOUT_S * 4,
            )
        status = step("state", _ssh(device) + [f"{gate} status"])
        state = json.loads(status.stdout.strip().splitlines()[-1])
        result.ok, result.bundle_id, result.current = True, state.get("bundle_id") or "", state.get("current") or ""
        result.message = f"current bundle {result.bundle_id}"
    except FlashError as exc:
        result.message = str(exc)
    except subprocess.TimeoutExpired as exc:
        result.message = f"timed out after {exc.timeout:.0f} s: {' '.join(exc.cmd[:3])} ..."
    except (json.JSONDecodeError, IndexError, AttributeError):
        result.message = "installed, but the device's state could not be read"
    result.seconds = time.perf_counter() - started
    say(f"[{device.label}] {'OK' if result.ok else 'FAILED'}: {result.message} ({result.seconds:.1f} s)")
    return result


def flash_all(
    devices: list[Device], bundle: Path, work: Path, key_dirs: list[Path], say: Callable[[str], None] = print
) -> list[FlashResult]:
    for device in devices:  # before anything reaches ssh
        check_device(device, f"device {_shown(device.label)}")
    bundle_id = check_bundle_here(bundle, key_dirs)
    say(f"bundle {bundle_id} verifies here; flashing {len(devices)} device{'s' if len(devices) != 1 else ''}")
    tar = as_tar(bundle, work)
    name = remote_name(tar)
    return [flash_device(device, tar, say, name) for device in devices]


def format_report(results: list[FlashResult]) -> str:
    width = max([len(r.device) for r in results] + [6])
    lines = [f"{'device':{width}s}  result  seconds  detail"]
    lines += [f"{r.device:{width}s}  {'ok' if r.ok else 'FAILED':6s}  {r.seconds:7.1f}  {r.message}" for r in results]
    ok = sum(r.ok for r in results)
    lines.append(f"{ok} of {len(results)} device{'s' if len(results) != 1 else ''} flashed")
    return "\n".join(lines)


def _shown(value: object) -> str:
    """A value from an inventory, fit for a one-line message."""
    text = repr(value) if isinstance(value, str) and value.isprintable() else ascii(value)
    return text if len(text) <= 80 else text[:77] + "..."
