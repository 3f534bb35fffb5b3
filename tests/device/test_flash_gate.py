"""The flashing gate (``pianocoach-flash``): the only thing the flash group may run as the service user.

It accepts ``install NAME`` (a plain ``.tar`` name in the staging folder), ``status`` and ``rollback``,
with the data folder and the trusted keys fixed; everything else is refused in one line, exit status 2,
with the store untouched. The tests call :func:`main` with temporary folders and a test key (the real
entry point takes neither), and run it as real processes the way sudo and the wrapper do.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from bundle_helpers import pack, signed_copy, trust
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pianocoach.appliance import flash_gate
from pianocoach.appliance.flash_gate import NAME_PATTERN, main
from pianocoach.bundle.signing import TrustedKey, key_id, public_key_pem
from pianocoach.bundle.trust import NO_PACKAGED_KEYS, TRUST_DIR_ENV

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "firmware_config" / "pianocoach-flash"
ONE_LINE = re.compile(r"pianocoach-flash: [^\n]+\n")


def trusted(key: Ed25519PrivateKey, name: str = "test-release") -> TrustedKey:
    return TrustedKey(key_id(key.public_key()), name, key.public_key())


class Device:
    """A data folder, a staging folder and the key the device trusts; ``run`` calls the gate."""

    def __init__(self, root: Path, key: Ed25519PrivateKey, capfd=None) -> None:
        self.root, self.key, self.capfd = root, key, capfd
        self.data = root / "data"
        self.staging = root / "incoming"
        self.data.mkdir(parents=True)
        self.staging.mkdir(mode=0o755)
        self.keys = [trusted(key)]

    def run(self, *argv: str, capfd=None) -> tuple[int, str, str]:
        capture = capfd or self.capfd
        capture.readouterr()
        code = main(list(argv), data_dir=self.data, staging=self.staging, keys=self.keys)
        out, err = capture.readouterr()
        return code, out, err

    def stage(self, bundle_id: str, key: Ed25519PrivateKey | None = None, name: str = "") -> str:
        """A signed bundle packed into the staging folder; its file name."""
        folder = signed_copy(self.root / "src" / bundle_id, key or self.key, bundle_id)
        name = name or f"{bundle_id}.tar"
        pack(folder, self.staging / name)
        return name

    def snapshot(self) -> list[tuple[str, str]]:
        """Everything under the data folder (names, link targets), to show a refusal changed nothing."""
        found = []
        for path in sorted(self.data.rglob("*")):
            kind = (
                f"-> {os.readlink(path)}"
                if path.is_symlink()
                else ("dir" if path.is_dir() else str(path.stat().st_size))
            )
            found.append((str(path.relative_to(self.data)), kind))
        return found


def child_trusts(device: Device, monkeypatch) -> None:
    """The install's health check runs in a child process that has no ``keys`` argument: it trusts the
    test key through ``PIANOCOACH_TRUSTED_KEYS``, as a development checkout can (the gate itself only
    ever uses ``keys``; on a device the wrapper's empty environment leaves both with root's keys)."""
    monkeypatch.setenv(TRUST_DIR_ENV, str(trust(device.root / "child", device.key)))


@pytest.fixture
def device(tmp_path, capfd, monkeypatch):
    made = Device(tmp_path, Ed25519PrivateKey.generate(), capfd)
    child_trusts(made, monkeypatch)
    return made


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A device with two bundles installed through the gate (release-1, then release-2 current)."""
    root = tmp_path_factory.mktemp("gate")
    monkeypatch = pytest.MonkeyPatch()
    made = Device(root, Ed25519PrivateKey.generate())
    child_trusts(made, monkeypatch)
    for bundle_id in ("release-1", "release-2"):
        name = made.stage(bundle_id)
        assert main(["install", name], data_dir=made.data, staging=made.staging, keys=made.keys) == 0
        (made.staging / name).unlink()
    yield made
    monkeypatch.undo()


def refused(result: tuple[int, str, str], *fragments: str) -> str:
    code, out, err = result
    assert code == 2, (code, out, err)
    assert out == "", out
    assert ONE_LINE.fullmatch(err), err
    for fragment in fragments:
        assert fragment in err, err
    return err


def status(device: Device) -> dict:
    code, out, err = device.run("status")
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


# -- what it accepts ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_install_status_rollback_through_the_gate(device):
    sleeper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGHUP, lambda *a: sys.exit(7))\nprint('ready', flush=True)\n"
            "time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sleeper.stdout.readline().strip() == "ready"
        (device.data / "pianocoach.pid").write_text(f"{sleeper.pid}\n")
        name = device.stage("release-1")
        code, out, err = device.run("install", name)
        assert code == 0, err
        assert f"installing {name} into {device.data / 'bundles'}" in out
        assert "health check: " in out and "installed release-1 as release-1 (previous: none)" in out
        assert f"told the appliance (pid {sleeper.pid}) to reload" in out
        assert sleeper.wait(timeout=10) == 7  # it got SIGHUP
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
    assert status(device) == {
        "root": str(device.data / "bundles"),
        "current": "release-1",
        "bundle_id": "release-1",
        "installed": ["release-1"],
    }

    code, out, err = device.run("install", device.stage("release-2", name="bundle-0123456789ab.tar"))
    assert code == 0 and "installed release-2 as release-2 (previous: release-1)" in out, err
    assert status(device)["current"] == "release-2"

    code, out, err = device.run("rollback")
    assert code == 0, err
    assert out.splitlines()[0] == "rolled back: release-2 -> release-1"
    assert "no running appliance" in out  # the pid file names a process that has ended
    assert status(device)["current"] == "release-1"


def test_status_of_a_device_with_no_bundle_yet(device):
    assert status(device) == {"root": str(device.data / "bundles"), "current": None, "bundle_id": None, "installed": []}


# -- what it refuses: the command line ---------------------------------------------------------------------
REFUSED_ARGUMENTS = [
    pytest.param(["--data-dir", "{elsewhere}", "status"], id="data-dir-first"),
    pytest.param(["status", "--data-dir", "{elsewhere}"], id="data-dir-after"),
    pytest.param(["install", "release-9.tar", "--data-dir", "{elsewhere}"], id="install-data-dir"),
    pytest.param(["--config", "{elsewhere}/config.toml", "status"], id="config"),
    pytest.param(["rollback", "--config", "{elsewhere}/config.toml"], id="rollback-config"),
    pytest.param(["--set", "a=b", "status"], id="set"),
    pytest.param(["install", "release-9.tar", "--set", "history.path=/etc/x"], id="install-set"),
    pytest.param(["status", "--json"], id="status-json"),
    pytest.param(["status", "extra"], id="status-extra"),
    pytest.param(["rollback", "now"], id="rollback-extra"),
    pytest.param(["install"], id="install-no-name"),
    pytest.param(["install", "release-9.tar", "release-9.tar"], id="install-two-names"),
    pytest.param(["install=release-9.tar"], id="install-equals"),
    pytest.param(["run"], id="run"),
    pytest.param(["history", "--set", "history.path=/x/trusted_keys/zz.pub"], id="history"),
    pytest.param(["install-bundle", "release-9.tar"], id="install-bundle"),
    pytest.param(["bundle-status", "--json"], id="bundle-status"),
    pytest.param(["stat"], id="abbreviation"),
    pytest.param(["STATUS"], id="upper-case"),
    pytest.param(["frobnicate"], id="unknown"),
    pytest.param(["--help"], id="help"),
    pytest.param(["-h"], id="h"),
    pytest.param([], id="nothing"),
    pytest.param(["status\n"], id="status-newline"),
]

REFUSED_NAMES = [
    "../release-9.tar",
    "/tmp/release-9.tar",
    "sub/release-9.tar",
    "./release-9.tar",
    "release-9.tgz",
    "release-9.tar.part",
    "release-9",
    ".release-9.tar",
    "-release-9.tar",
    "release 9.tar",
    "release-9.tar\n",
    "release-9.tar/",
    "..tar",
    "x" * 102 + ".tar",
    "r\u00e9lease.tar",
    "release-9.TAR",
    "",
]


@pytest.mark.parametrize("argv", REFUSED_ARGUMENTS)
@pytest.mark.slow
def test_anything_but_the_three_command_lines_is_refused(installed, capfd, tmp_path, argv):
    argv = [a.format(elsewhere=tmp_path) for a in argv]
    before = installed.snapshot()
    err = refused(installed.run(*argv, capfd=capfd))
    assert "refused arguments" in err and "usage: pianocoach-flash install NAME.tar" in err
    assert installed.snapshot() == before


@pytest.mark.parametrize("name", REFUSED_NAMES)
@pytest.mark.slow
def test_a_name_that_is_not_a_plain_tar_name_in_staging_is_refused(installed, capfd, tmp_path, name):
    assert not NAME_PATTERN.fullmatch(name)
    before = installed.snapshot()
    refused(installed.run("install", name, capfd=capfd), "refused bundle name")
    assert installed.snapshot() == before


def test_the_accepted_names():
    for name in ("release-9.tar", "bundle-0123456789ab.tar", "a.tar", "A_b.c-d.tar", "x" * 101 + ".tar"):
        assert NAME_PATTERN.fullmatch(name), name


# -- what it refuses: the staged file and the folders -------------------------------------------------------
def test_a_staged_name_that_is_a_symlink_to_a_valid_bundle_is_refused(device, tmp_path):
    valid = pack(signed_copy(tmp_path / "elsewhere", device.key, "release-5"), tmp_path / "release-5.tar")
    (device.staging / "release-5.tar").symlink_to(valid)
    refused(device.run("install", "release-5.tar"), "is a symbolic link")
    assert status(device)["current"] is None and not (device.data / "bundles").exists()


def test_a_staged_file_with_another_hard_link_is_refused(device, tmp_path):
    name = device.stage("release-5")
    os.link(device.staging / name, tmp_path / "another-link.tar")
    refused(device.run("install", name), "has 2 hard links")


def test_a_staged_file_others_may_write_is_refused(device):
    name = device.stage("release-5")
    (device.staging / name).chmod(0o664)
    refused(device.run("install", name), "writable by group or others")


def test_a_staged_folder_or_fifo_and_a_missing_file_are_refused(device):
    (device.staging / "folder.tar").mkdir()
    refused(device.run("install", "folder.tar"), "not a regular file")
    os.mkfifo(device.staging / "fifo.tar")
    refused(device.run("install", "fifo.tar"), "not a regular file")
    refused(device.run("install", "missing.tar"), "missing.tar: no such file")


@pytest.mark.slow
def test_a_staging_folder_that_is_a_link_or_writable_by_all_without_sticky_is_refused(device, tmp_path):
    name = device.stage("release-5")
    real = tmp_path / "real-incoming"
    device.staging.rename(real)
    device.staging.symlink_to(real)
    refused(device.run("install", name), "not a folder (a link or a file)")
    device.staging.unlink()
    real.rename(device.staging)
    device.staging.chmod(0o777)
    refused(device.run("install", name), "others may write it but it is not sticky")
    device.staging.chmod(0o1777)
    code, out, err = device.run("install", name)
    assert code == 0, err


def test_a_store_that_is_a_symlink_is_refused(device, tmp_path):
    """The audit's attack: a data folder whose bundles/ links to the real store."""
    other = tmp_path / "other-store"
    other.mkdir()
    (device.data / "bundles").symlink_to(other)
    name = device.stage("release-5")
    for argv in (["status"], ["rollback"], ["install", name]):
        refused(device.run(*argv), "bundles: not a folder (a symbolic link or a file)")
    assert list(other.iterdir()) == []


def test_a_key_in_the_data_folder_is_not_trusted(device, tmp_path):
    """Keys in <data_dir>/trusted_keys/ (the service user's) choose nothing: only the keys the gate is
    given (on a device: root's /etc/pianocoach/trusted_keys) sign what it installs."""
    rogue = Ed25519PrivateKey.generate()
    (device.data / "trusted_keys").mkdir()
    (device.data / "trusted_keys" / "planted.pub").write_bytes(public_key_pem(rogue.public_key()))
    name = device.stage("rogue-1", key=rogue)
    refused(device.run("install", name), "signed by key", "does not trust")
    assert status(device)["current"] is None
    assert [p.name for p in (device.data / "bundles").iterdir()] in ([], [".install.lock"])  # nothing written


def test_a_write_needs_the_store_owner(device, monkeypatch):
    """Run as another user (root on a device, say) it refuses to write into the service user's store."""
    name = device.stage("release-5")
    monkeypatch.setattr(flash_gate.os, "geteuid", lambda: os.getuid() + 4242)
    refused(device.run("install", name), "not this user", "run it as the service user")
    refused(device.run("rollback"), "not this user")
    assert device.run("status")[0] == 0  # reading is fine


@pytest.mark.slow
def test_a_failed_install_is_one_line_and_keeps_the_current_bundle(installed, capfd, tmp_path):
    before = installed.snapshot()
    (installed.staging / "truncated.tar").write_bytes(b"\0" * 700)
    try:
        refused(installed.run("install", "truncated.tar", capfd=capfd))
    finally:
        (installed.staging / "truncated.tar").unlink()
    assert installed.snapshot() == before


# -- as real processes, the way sudo and the wrapper start it ----------------------------------------------
def rogue_folder(root: Path) -> tuple[Path, Path]:
    """A folder with a rogue ``pianocoach`` package (and ``sitecustomize``) that leave a mark when imported."""
    rogue, mark = root / "rogue", root / "ROGUE-CODE-RAN"
    for package in ("pianocoach", "pianocoach/appliance", "pianocoach/bundle"):
        (rogue / package).mkdir(parents=True)
        (rogue / package / "__init__.py").write_text(f"open({str(mark)!r}, 'a').write({package!r} + '\\n')\n")
    for module in (
        "pianocoach/appliance/flash_gate.py",
        "pianocoach/bundle/health.py",
        "sitecustomize.py",
        "usercustomize.py",
        "json.py",
    ):
        (rogue / module).write_text(f"open({str(mark)!r}, 'a').write({module!r} + '\\n')\n")
    return rogue, mark


def rogue_environment(rogue: Path) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": str(rogue),
        "PYTHONUSERBASE": str(rogue),
        "PYTHONSTARTUP": str(rogue / "sitecustomize.py"),
    }


@pytest.mark.slow
def test_started_as_a_process_from_a_rogue_folder_runs_no_rogue_code(device, tmp_path):
    """``python -I`` with the working directory and PYTHONPATH holding a rogue ``pianocoach`` package:
    neither the gate nor the install's health check imports it. Folders and key reach main() as
    arguments (the real entry point has none to take)."""
    rogue, mark = rogue_folder(tmp_path)
    name = device.stage("release-3")
    pub = tmp_path / "test-release.pub"
    pub.write_bytes(public_key_pem(device.key.public_key()))
    code = (
        "import sys\nfrom pathlib import Path\nfrom pianocoach.appliance import flash_gate\n"
        "from pianocoach.bundle.signing import load_public_key\n"
        "data, staging, pub = sys.argv[1:4]\n"
        "flash_gate.isolate()\n"
        f"import os; os.environ[{TRUST_DIR_ENV!r}] = {str(device.root / 'child' / 'trusted_keys')!r}  # the health "
        f"check's\n"
        "sys.exit(flash_gate.main(sys.argv[4:], data_dir=Path(data), staging=Path(staging), "
        "keys=[load_public_key(pub)]))\n"
    )
    env = rogue_environment(rogue)
    for argv, expect in (
        (["install", name], "installed release-3"),
        (["status"], '"current": "release-3"'),
        (["--data-dir", str(rogue), "status"], "refused arguments"),
    ):
        done = subprocess.run(
            [sys.executable, "-I", "-c", code, str(device.data), str(device.staging), str(pub), *argv],
            cwd=rogue,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert expect in done.stdout + done.stderr, done.stdout + done.stderr
        assert not mark.exists(), f"rogue code ran: {mark.read_text()}"


def test_the_wrapper_starts_the_gate_from_slash_with_an_empty_environment(tmp_path):
    """firmware_config/pianocoach-flash, with this venv's Python in place of /opt/pianocoach/venv's:
    the caller's folder, PYTHONPATH and the rest never reach the gate (which then works on the fixed
    /var/lib/pianocoach: absent here, so its one-line refusal says so, or its status when present)."""
    text = WRAPPER.read_text()
    assert text.startswith("#!/bin/sh\n") and "cd / " in text and "/usr/bin/env -i" in text
    assert '/opt/pianocoach/venv/bin/python -I -m pianocoach.appliance.flash_gate "$@"' in text
    assert subprocess.run(["sh", "-n", str(WRAPPER)]).returncode == 0
    wrapper = tmp_path / "pianocoach-flash"
    wrapper.write_text(text.replace("/opt/pianocoach/venv/bin/python", sys.executable))
    wrapper.chmod(0o755)
    rogue, mark = rogue_folder(tmp_path)
    env = {**rogue_environment(rogue), TRUST_DIR_ENV: str(rogue)}
    done = subprocess.run([str(wrapper), "status"], cwd=rogue, env=env, capture_output=True, text=True, timeout=120)
    if flash_gate.DATA_DIR.is_dir():
        assert done.returncode == 0 and json.loads(done.stdout)["root"] == str(flash_gate.DATA_DIR / "bundles")
    else:
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr == f"pianocoach-flash: {flash_gate.DATA_DIR}: no such data folder (install.sh makes it)\n"
    for argv in (["install", "../x.tar"], ["--data-dir", str(rogue), "status"], ["run"]):
        done = subprocess.run([str(wrapper), *argv], cwd=rogue, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stdout == "" and ONE_LINE.fullmatch(done.stderr), done.stderr
    assert not mark.exists(), f"rogue code ran: {mark.read_text()}"


def test_the_real_entry_point_takes_no_folders_or_keys_from_outside():
    source = Path(flash_gate.__file__).read_text()
    entry = source[source.index('if __name__ == "__main__":') :]
    assert entry.split() == ["if", "__name__", "==", '"__main__":', "isolate()", "sys.exit(main())"]
    assert flash_gate.DATA_DIR == Path("/var/lib/pianocoach")
    assert flash_gate.STAGING_DIR == Path("/var/tmp/pianocoach-incoming")


def test_isolate_leaves_slash_and_no_python_or_pianocoach_variables(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("PIANOCOACH_INSTALL_KILL_AT", "locked")
    monkeypatch.setenv(TRUST_DIR_ENV, str(tmp_path))
    flash_gate.isolate()
    assert os.getcwd() == "/"
    assert not [n for n in os.environ if n.startswith(("PYTHON", "PIANOCOACH"))]
    # monkeypatch puts the folder and the variables back


def test_install_sh_gives_the_flash_group_the_gate_only_and_root_the_keys():
    """The parts of firmware_config/install.sh this depends on (it needs a Pi to run)."""
    script = (REPO / "firmware_config" / "install.sh").read_text()
    assert subprocess.run(["bash", "-n", str(REPO / "firmware_config" / "install.sh")]).returncode == 0
    assert "GATE=/usr/local/sbin/pianocoach-flash" in script
    assert '"%pianocoach-flash ALL=(pianocoach) NOPASSWD: $GATE"' in script
    assert 'venv/bin/pianocoach"' not in script and "NOPASSWD: $VENV" not in script
    assert "chown -R" not in script  # nothing the service user owns is walked by root
    assert "TRUST=/etc/pianocoach/trusted_keys" in script
    assert "development.pub" not in script and "PACKAGED_KEYS;" not in script  # site-packages is left alone
    assert f"NO_PACKAGED_KEYS={NO_PACKAGED_KEYS}" in script  # the marker the device reads
    assert 'install -d -m 0755 -o root -g root /etc/pianocoach "$TRUST"' in script
    tmpfiles = (REPO / "firmware_config" / "pianocoach-tmpfiles.conf").read_text()
    assert "d /var/tmp/pianocoach-incoming 1731 root pianocoach-flash" in tmpfiles
