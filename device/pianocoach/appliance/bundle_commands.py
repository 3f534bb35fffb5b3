"""``pianocoach install-bundle``, ``pianocoach rollback`` and ``pianocoach bundle-status``: the device's
end of flashing. The store (:mod:`pianocoach.bundle.store`) does the work; these commands find it under
the configured data folder and tell a running appliance to reload (SIGHUP to the pid in
``<data_dir>/pianocoach.pid``; the daemon swaps bundles between performances, never during one).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from pathlib import Path

from pianocoach.appliance.config import Config, add_config_flags, config_from_args

log = logging.getLogger(__name__)

PID_FILE = "pianocoach.pid"


def write_pid_file(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / PID_FILE
    tmp = path.with_name(f".{PID_FILE}.tmp")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)
    return path


def notify_daemon(data_dir: Path) -> str:
    """SIGHUP to the running appliance; a line saying what happened."""
    path = data_dir / PID_FILE
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError):
        return "no running appliance found (it loads the new bundle when it starts)"
    except ProcessLookupError:
        return f"no running appliance (stale {path}); it loads the new bundle when it starts"
    except PermissionError:
        return f"cannot signal the appliance (pid {pid}): run as its user, or `systemctl reload pianocoach`"
    return f"told the appliance (pid {pid}) to reload; it switches after the current performance"


def _store(config: Config, keep: int = 3):
    from pianocoach.bundle.store import BundleStore

    return BundleStore(config.data_dir / "bundles", keep=keep)  # trusts the device's keys (bundle.trust)


def install_command(args: argparse.Namespace) -> int:

    config = config_from_args(args)
    store = _store(config, args.keep)
    print(f"installing {args.bundle} into {store.root}: unpack, verify, health check, switch")
    result = store.install(args.bundle, reserve_mb=args.reserve_mb)
    health = result.health
    print(
        f"health check: {health.get('windows')} windows scored, overall {health.get('overall')}, "
        f"scales {health.get('scale_range')}"
    )
    print(
        f"installed {result.bundle_id} as {result.folder.name} (previous: {result.previous or 'none'}) "
        f"in {result.seconds:.1f} s" + (f"; removed {', '.join(result.pruned)}" if result.pruned else "")
    )
    print(notify_daemon(config.data_dir))
    return 0


def rollback_command(args: argparse.Namespace) -> int:

    config = config_from_args(args)
    before, after = _store(config).rollback()
    print(f"rolled back: {before} -> {after}")
    print(notify_daemon(config.data_dir))
    return 0


def status_command(args: argparse.Namespace) -> int:

    status = _store(config_from_args(args)).status()
    if args.json:
        print(json.dumps(status))
    else:
        print(f"current: {status['current'] or 'none (the built-in bundle)'} ({status['bundle_id'] or '-'})")
        print(f"installed: {', '.join(status['installed']) or 'none'}")
    return 0


def add_bundle_commands(commands: argparse._SubParsersAction) -> None:
    install = commands.add_parser(
        "install-bundle", help="install a model bundle (folder or .tar): verify, health check, switch"
    )
    add_config_flags(install)
    install.add_argument("bundle", type=Path, help="bundle folder or .tar")
    install.add_argument("--keep", type=int, default=3, help="installed bundles to keep (default 3; at least 2)")
    install.add_argument(
        "--reserve-mb", type=float, default=50.0, help="free space to leave on the disk (default 50 MB)"
    )
    install.set_defaults(run=install_command)

    rollback = commands.add_parser("rollback", help="return to the bundle installed before the current one")
    add_config_flags(rollback)
    rollback.set_defaults(run=rollback_command)

    status = commands.add_parser("bundle-status", help="the current and the installed bundles")
    add_config_flags(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=status_command)
