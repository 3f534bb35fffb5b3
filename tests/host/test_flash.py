"""Flashing over real SSH: an OpenSSH server (Debian openssh-server) on 127.0.0.1 with a temporary host
key and user key, and a "device" folder on this machine. `make flash` and the inventory command go
through it; the device's install refuses what it must (here: a bundle that fails its health check)."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundle_helpers import pack, resign, signed_copy, trust
from pianocoach.bundle import DEFAULT_BUNDLE, sha256_file
from pianocoach.bundle.store import BundleStore, InstallError
from pianocoach_export.flash import Device, FlashError, flash_all, format_report, read_inventory
from pianocoach_train.settings import REPO_ROOT

SSHD = Path("/usr/sbin/sshd")
PIANOCOACH = str(Path(sys.executable).parent / "pianocoach")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not SSHD.is_file() or shutil.which("ssh") is None:
        pytest.skip("OpenSSH (openssh-server, openssh-client) is not installed: the flashing-over-SSH tests are not run")
    if os.geteuid() != 0:
        pytest.skip("sshd needs root for its privilege separation here: the flashing-over-SSH tests are not run")
    root = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
    shutil.copyfile(root / "user_key.pub", root / "authorized_keys")
    port = free_port()
    (root / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {root / 'host_key'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}", "PubkeyAuthentication yes", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
        f"PidFile {root / 'sshd.pid'}", "Subsystem sftp internal-sftp", "LogLevel VERBOSE", ""]))
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    log = open(root / "sshd.log", "w")
    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(root / "sshd_config")], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                pytest.skip(f"sshd could not start here: {(root / 'sshd.log').read_text()[-500:]}")
            time.sleep(0.2)
    host_key = (root / "host_key.pub").read_text().split()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    options = (f"UserKnownHostsFile={root / 'known_hosts'}", "StrictHostKeyChecking=yes")
    yield Device(host=f"{getpass.getuser()}@127.0.0.1", port=port, identity=str(root / "user_key"), ssh_options=options,
                 pianocoach=PIANOCOACH)
    process.terminate()
    process.wait(timeout=10)
    log.close()


def device_folder(tmp_path: Path, name: str = "device") -> tuple[Path, Ed25519PrivateKey]:
    data = tmp_path / name
    key = Ed25519PrivateKey.generate()
    trust(data, key)
    return data, key


def test_make_flash_installs_over_ssh_and_reports(sshd, tmp_path):
    data, key = device_folder(tmp_path)
    bundle = pack(signed_copy(tmp_path / "b", key, "release-7"), tmp_path / "release-7.tar")
    # the workstation trusts the key too (it checks the bundle before sending it)
    trust(tmp_path / "ws", key)
    env = {**os.environ, "PIANOCOACH_KEY_DIR": str(tmp_path / "ws" / "trusted_keys")}
    opts = " ".join([f"--identity {sshd.identity}", *[f"--ssh-option {o}" for o in sshd.ssh_options],
                     f"--data-dir {data}", f"--pianocoach {PIANOCOACH}", f"--staging {tmp_path / 'incoming'}"])
    done = subprocess.run(["make", "-s", "flash", f"HOST={sshd.host}", f"PORT={sshd.port}", f"BUNDLE={bundle}",
                           f"FLASH_OPTS={opts}"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for step in ("connect and prepare", "copy release-7.tar", "move it into place", "install (verify, health check",
                 "health check: ", "installed release-7", "OK: current bundle release-7", "1 of 1 device flashed"):
        assert step in out, out
    store = BundleStore(data / "bundles")
    assert store.status()["bundle_id"] == "release-7"
    assert sha256_file(store.current_link / "manifest.json") == sha256_file(tmp_path / "b" / "manifest.json")
    assert list((tmp_path / "incoming").iterdir()) == []  # the copy is removed after the install


def test_an_inventory_flashes_each_device_and_reports_each(sshd, tmp_path):
    (a, key), (b, _) = device_folder(tmp_path, "studio-a"), device_folder(tmp_path, "studio-b")
    trust(b, key)
    inventory = tmp_path / "devices.toml"
    inventory.write_text("\n".join([
        "[defaults]", f'pianocoach = "{PIANOCOACH}"', f"port = {sshd.port}", f'staging = "{tmp_path / "incoming"}"', "",
        "[[device]]", 'name = "studio-a"', f'host = "{sshd.host}"', f'data_dir = "{a}"', "",
        "[[device]]", 'name = "studio-b"', f'host = "{sshd.host}"', f'data_dir = "{b}"', "",
        "[[device]]", 'name = "offline"', f'host = "{sshd.host}"', f"port = {free_port()}", f'data_dir = "{tmp_path / "c"}"', ""]))
    devices = read_inventory(inventory, Device(host="", identity=sshd.identity, ssh_options=sshd.ssh_options))
    assert [d.label for d in devices] == ["studio-a", "studio-b", "offline"]
    bundle = signed_copy(tmp_path / "release-8", key, "release-8")
    trust(tmp_path / "ws", key)
    lines: list[str] = []
    results = flash_all(devices, bundle, tmp_path, [tmp_path / "ws" / "trusted_keys"], lines.append)
    assert [r.ok for r in results] == [True, True, False]
    assert results[0].bundle_id == results[1].bundle_id == "release-8"
    assert "connect and prepare" in results[2].message
    report = format_report(results)
    print(report)  # pytest -s shows what a teacher sees
    assert "2 of 3 devices flashed" in report and "offline" in report and "FAILED" in report
    with pytest.raises(FlashError, match="no host"):
        inventory.write_text('[[device]]\nname = "x"\n')
        read_inventory(inventory)


def test_a_bundle_that_does_not_verify_here_is_not_sent(tmp_path):
    bundle = signed_copy(tmp_path / "b", Ed25519PrivateKey.generate(), "stranger")
    with pytest.raises(FlashError, match="not flashed, it does not verify here: signed by key"):
        flash_all([Device(host="nobody@127.0.0.1", port=1)], bundle, tmp_path, [])


def unhealthy_copy(out: Path, key: Ed25519PrivateKey) -> Path:
    """A bundle whose scorer passes every check but the health check: it adds 10 to every score."""
    bundle = signed_copy(out, key, "unhealthy")
    path = bundle / "models" / "midi_scorer.onnx"
    model = onnx.load(path)
    for node in model.graph.node:
        node.output[:] = ["scores_raw" if o == "scores" else o for o in node.output]
    ten = onnx.helper.make_tensor("ten", onnx.TensorProto.FLOAT, [], [10.0])
    model.graph.initializer.append(ten)
    model.graph.node.append(onnx.helper.make_node("Add", ["scores_raw", "ten"], ["scores"]))
    onnx.save(model, path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["models/midi_scorer.onnx"] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return resign(bundle, key, files=manifest["files"])


def test_a_bundle_that_fails_its_health_check_is_refused(tmp_path):
    data, key = device_folder(tmp_path)
    store = BundleStore(data / "bundles")
    store.install(DEFAULT_BUNDLE)
    before = store.current()
    with pytest.raises(InstallError, match=r"health check failed: .*unhealthy: 19 scale values outside 0.04..1.10"):
        store.install(unhealthy_copy(tmp_path / "bad", key))
    assert store.current() == before and not [p for p in store.root.iterdir() if p.name.startswith(".staging-")]
