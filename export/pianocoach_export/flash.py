"""Flashing a model bundle to devices over SSH (``make flash``): check it here, copy it to the device's
staging folder (``scp`` to a ``.part`` name, then renamed there), run ``pianocoach install-bundle`` on
the device (verify, health check, atomic switch, reload), remove the copy, report the device's state.

SSH runs with ``BatchMode=yes``: keys only (an agent or ``--identity``), never a password prompt and no
password in any file. Many devices: an inventory TOML::

    [defaults]                       # optional; any device key
    port = 22
    pianocoach = "sudo -n -u pianocoach /opt/pianocoach/venv/bin/pianocoach"   # install.sh allows this
    data_dir = "/var/lib/pianocoach"          # to members of pianocoach-flash

    [[device]]
    name = "studio-1"
    host = "pi@studio-1.local"

Each device is flashed in turn; one that fails does not stop the others, and the report says per device.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import time
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable

from pianocoach.bundle import verify_bundle
from pianocoach.bundle.manifest import Manifest
from pianocoach.bundle.signing import PACKAGED_KEYS, trusted_keys
from pianocoach.errors import PianoCoachError

log = logging.getLogger(__name__)

SSH_TIMEOUT_S = 15
INSTALL_TIMEOUT_S = 600


class FlashError(PianoCoachError):
    """Flashing could not start (no bundle, a bad inventory, a bundle refused here)."""


@dataclass(frozen=True)
class Device:
    host: str  # user@host
    name: str = ""
    port: int = 22
    data_dir: str = "/var/lib/pianocoach"
    pianocoach: str = "sudo -n -u pianocoach /opt/pianocoach/venv/bin/pianocoach"  # the command on the device
    staging: str = "/var/tmp/pianocoach-incoming"  # where the bundle is copied (readable by the service user)
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
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FlashError(f"{path}: no such inventory file") from None
    except tomllib.TOMLDecodeError as exc:
        raise FlashError(f"{path}: not valid TOML ({exc})") from None
    known = {f.name for f in fields(Device)}
    defaults = data.get("defaults", {})
    devices = []
    for number, entry in enumerate(data.get("device", []), 1):
        merged = {**defaults, **entry}
        unknown = set(merged) - known
        if unknown or "host" not in merged:
            problem = f"unknown keys {', '.join(sorted(unknown))}" if unknown else "no host"
            raise FlashError(f"{path}: device {number}: {problem} (keys: {', '.join(sorted(known))})")
        merged["ssh_options"] = tuple(merged.get("ssh_options", ()))
        device = Device(**merged)
        devices.append(replace(device, identity=device.identity or (base.identity if base else ""),
                               ssh_options=device.ssh_options + (base.ssh_options if base else ())))
    if not devices:
        raise FlashError(f"{path}: no [[device]] entries")
    return devices


def check_bundle_here(bundle: Path, key_dirs: list[Path]) -> str:
    """Refuse to send a bundle that would be refused there anyway; returns its id."""
    keys = trusted_keys([PACKAGED_KEYS, *[d for d in key_dirs if d.exists()]])
    check = verify_bundle(bundle, keys)
    if not check.ok:
        raise FlashError(f"{bundle}: not flashed, it does not verify here: " + "; ".join(check.problems))
    return check.manifest.bundle_id


def as_tar(bundle: Path, work: Path) -> Path:
    """The bundle as one ``.tar`` (a folder is packed the way export packs it)."""
    if bundle.is_file():
        return bundle
    from pianocoach_export.bundle import pack

    name = Manifest.read(bundle).bundle_id
    return pack(bundle, work / f"{name}.tar")


def _ssh(device: Device) -> list[str]:
    command = ["ssh", "-p", str(device.port), "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT_S}"]
    if device.identity:
        command += ["-i", device.identity, "-o", "IdentitiesOnly=yes"]
    for option in device.ssh_options:
        command += ["-o", option]
    return command + [device.host]


def _scp(device: Device, source: Path, target: str) -> list[str]:
    command = ["scp", "-q", "-P", str(device.port), "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT_S}"]
    if device.identity:
        command += ["-i", device.identity, "-o", "IdentitiesOnly=yes"]
    for option in device.ssh_options:
        command += ["-o", option]
    return command + [str(source), f"{device.host}:{target}"]


def flash_device(device: Device, tar: Path, say: Callable[[str], None] = print) -> FlashResult:
    started = time.perf_counter()
    result = FlashResult(device.label, False, "")
    remote_tar = f"{device.staging_dir}/{tar.name}"
    q = shlex.quote
    data = f"--data-dir {q(device.data_dir)}"

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
        step(f"connect and prepare {device.staging_dir}",
             _ssh(device) + [f"mkdir -p {q(device.staging_dir)} && chmod 0755 {q(device.staging_dir)}"])
        step(f"copy {tar.name} ({tar.stat().st_size / 1e6:.1f} MB)", _scp(device, tar, remote_tar + ".part"),
             timeout=INSTALL_TIMEOUT_S)
        step("move it into place", _ssh(device) + [f"mv -f {q(remote_tar + '.part')} {q(remote_tar)}"])
        try:
            step("install (verify, health check, switch, reload)",
                 _ssh(device) + [f"{device.pianocoach} install-bundle {q(remote_tar)} {data}"], timeout=INSTALL_TIMEOUT_S)
        finally:
            subprocess.run(_ssh(device) + [f"rm -f {q(remote_tar)} {q(remote_tar + '.part')}"], capture_output=True,
                           timeout=SSH_TIMEOUT_S * 4)
        status = step("state", _ssh(device) + [f"{device.pianocoach} bundle-status --json {data}"])
        state = json.loads(status.stdout.strip().splitlines()[-1])
        result.ok, result.bundle_id, result.current = True, state.get("bundle_id") or "", state.get("current") or ""
        result.message = f"current bundle {result.bundle_id}"
    except FlashError as exc:
        result.message = str(exc)
    except subprocess.TimeoutExpired as exc:
        result.message = f"timed out after {exc.timeout:.0f} s: {' '.join(exc.cmd[:3])} ..."
    except (json.JSONDecodeError, IndexError):
        result.message = "installed, but the device's state could not be read"
    result.seconds = time.perf_counter() - started
    say(f"[{device.label}] {'OK' if result.ok else 'FAILED'}: {result.message} ({result.seconds:.1f} s)")
    return result


def flash_all(devices: list[Device], bundle: Path, work: Path, key_dirs: list[Path],
              say: Callable[[str], None] = print) -> list[FlashResult]:
    bundle_id = check_bundle_here(bundle, key_dirs)
    say(f"bundle {bundle_id} verifies here; flashing {len(devices)} device{'s' if len(devices) != 1 else ''}")
    tar = as_tar(bundle, work)
    return [flash_device(device, tar, say) for device in devices]


def format_report(results: list[FlashResult]) -> str:
    width = max([len(r.device) for r in results] + [6])
    lines = [f"{'device':{width}s}  result  seconds  detail"]
    lines += [f"{r.device:{width}s}  {'ok' if r.ok else 'FAILED':6s}  {r.seconds:7.1f}  {r.message}" for r in results]
    ok = sum(r.ok for r in results)
    lines.append(f"{ok} of {len(results)} device{'s' if len(results) != 1 else ''} flashed")
    return "\n".join(lines)
