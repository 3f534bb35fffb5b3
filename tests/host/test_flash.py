"""Flashing over real SSH: an OpenSSH server (Debian openssh-server) on 127.0.0.1 with a temporary host
key and user key, and a "device" folder on this machine. `make flash` and the inventory command go
through it to the device's flashing gate (pianocoach.appliance.flash_gate; here a small test wrapper
that gives it the test's folders and key, since the test cannot write /var/lib or /etc); the device's
install refuses what it must (here: a bundle that fails its health check), and an inventory host that
ssh would read as an option never reaches ssh."""

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
from bundle_helpers import pack, resign, signed_copy, trust
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pianocoach.appliance.flash_gate import NAME_PATTERN
from pianocoach.bundle import DEFAULT_BUNDLE, sha256_file
from pianocoach.bundle.signing import public_key_pem
from pianocoach.bundle.store import BundleStore, InstallError
from pianocoach.bundle.trust import TRUST_DIR_ENV
from pianocoach_export import flash as flash_module
from pianocoach_export.flash import Device, FlashError, as_tar, flash_all, format_report, read_inventory, remote_name
from pianocoach_train.paths import REPO_ROOT

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not SSHD.is_file() or shutil.which("ssh") is None:
        pytest.skip(
            "OpenSSH (openssh-server, openssh-client) is not installed: the flashing-over-SSH tests are not run"
        )
    if os.geteuid() != 0:
        pytest.skip("sshd needs root for its privilege separation here: the flashing-over-SSH tests are not run")
    root = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
    shutil.copyfile(root / "user_key.pub", root / "authorized_keys")
    port = free_port()
    (root / "sshd_config").write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {root / 'host_key'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
                f"PidFile {root / 'sshd.pid'}",
                "Subsystem sftp internal-sftp",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    log = open(root / "sshd.log", "w")
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(root / "sshd_config")], stdout=log, stderr=subprocess.STDOUT
    )
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
    yield Device(host=f"{getpass.getuser()}@127.0.0.1", port=port, identity=str(root / "user_key"), ssh_options=options)
    process.terminate()
    process.wait(timeout=10)
    log.close()


def device_folder(tmp_path: Path, name: str = "device") -> tuple[Path, Ed25519PrivateKey]:
    data = tmp_path / name
    key = Ed25519PrivateKey.generate()
    trust(data, key)
    return data, key


def staging_folder(tmp_path: Path) -> Path:
    """The device's staging folder: on a Pi install.sh makes it (root's, 1731); make flash never does."""
    staging = tmp_path / "incoming"
    staging.mkdir(mode=0o755, exist_ok=True)
    return staging


def gate_wrapper(tmp_path: Path, data: Path, staging: Path, key: Ed25519PrivateKey, name: str = "gate") -> str:
    """What make flash runs on the "device": the flashing gate as /usr/local/sbin/pianocoach-flash runs it
    (``python -I``, from /, PYTHON* and PIANOCOACH* variables gone), given the test's folders and key
    as arguments to main() instead of the device's fixed ones."""
    pub = tmp_path / f"{name}.pub"
    pub.write_bytes(public_key_pem(key.public_key()))
    script = tmp_path / f"{name}.py"
    script.write_text(
        "\n".join(
            [
                f"#!{sys.executable} -I",
                "import os, sys",
                "from pathlib import Path",
                "from pianocoach.appliance import flash_gate",
                "from pianocoach.bundle.signing import load_public_key",
                "flash_gate.isolate()",
                "# the install's health check runs in a child process with no keys argument: it trusts the test key",
                f"os.environ[{TRUST_DIR_ENV!r}] = {str(data / 'trusted_keys')!r}",
                f"sys.exit(flash_gate.main(sys.argv[1:], data_dir=Path({str(data)!r}), staging=Path({str(staging)!r}),",
                f"                         keys=[load_public_key({str(pub)!r})]))",
                "",
            ]
        )
    )
    script.chmod(0o755)
    return str(script)


@pytest.mark.slow
def test_make_flash_installs_over_ssh_and_reports(sshd, tmp_path):
    data, key = device_folder(tmp_path)
    bundle = pack(signed_copy(tmp_path / "b", key, "release-7"), tmp_path / "release-7.tar")
    # the workstation trusts the key too (it checks the bundle before sending it)
    trust(tmp_path / "ws", key)
    env = {**os.environ, "PIANOCOACH_KEY_DIR": str(tmp_path / "ws" / "trusted_keys")}
    staging = staging_folder(tmp_path)
    opts = " ".join(
        [
            f"--identity {sshd.identity}",
            *[f"--ssh-option {o}" for o in sshd.ssh_options],
            f"--pianocoach {gate_wrapper(tmp_path, data, staging, key)}",
            f"--staging {staging}",
        ]
    )
    done = subprocess.run(
        ["make", "-s", "flash", f"HOST={sshd.host}", f"PORT={sshd.port}", f"BUNDLE={bundle}", f"FLASH_OPTS={opts}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    name = remote_name(bundle)
    for step in (
        f"connect and check {staging}",
        f"copy {name} (",
        "move it into place",
        "install (verify, health check",
        f"installing {name} into {data / 'bundles'}",
        "health check: ",
        "installed release-7",
        "OK: current bundle release-7",
        "1 of 1 device flashed",
    ):
        assert step in out, out
    store = BundleStore(data / "bundles")
    assert store.status()["bundle_id"] == "release-7"
    assert sha256_file(store.current_link / "manifest.json") == sha256_file(tmp_path / "b" / "manifest.json")
    assert list(staging.iterdir()) == []  # the copy is removed after the install


@pytest.mark.slow
def test_an_inventory_flashes_each_device_and_reports_each(sshd, tmp_path):
    (a, key), (b, _) = device_folder(tmp_path, "studio-a"), device_folder(tmp_path, "studio-b")
    trust(b, key)
    staging = staging_folder(tmp_path)
    gate_a, gate_b = (
        gate_wrapper(tmp_path, a, staging, key, "gate-a"),
        gate_wrapper(tmp_path, b, staging, key, "gate-b"),
    )
    inventory = tmp_path / "devices.toml"
    inventory.write_text(
        "\n".join(
            [
                "[defaults]",
                f"port = {sshd.port}",
                f'staging = "{staging}"',
                "",
                "[[device]]",
                'name = "studio-a"',
                f'host = "{sshd.host}"',
                f'pianocoach = "{gate_a}"',
                "",
                # an older inventory's data_dir is read and ignored: the gate's data folder is fixed
                "[[device]]",
                'name = "studio-b"',
                f'host = "{sshd.host}"',
                f'pianocoach = "{gate_b}"',
                'data_dir = "/elsewhere"',
                "",
                "[[device]]",
                'name = "offline"',
                f'host = "{sshd.host}"',
                f"port = {free_port()}",
                "",
            ]
        )
    )
    devices = read_inventory(inventory, Device(host="", identity=sshd.identity, ssh_options=sshd.ssh_options))
    assert [d.label for d in devices] == ["studio-a", "studio-b", "offline"]
    bundle = signed_copy(tmp_path / "release-8", key, "release-8")
    trust(tmp_path / "ws", key)
    lines: list[str] = []
    results = flash_all(devices, bundle, tmp_path, [tmp_path / "ws" / "trusted_keys"], lines.append)
    assert [r.ok for r in results] == [True, True, False], format_report(results)
    assert results[0].bundle_id == results[1].bundle_id == "release-8"
    assert (
        BundleStore(a / "bundles").status()["bundle_id"]
        == BundleStore(b / "bundles").status()["bundle_id"]
        == "release-8"
    )
    assert "[studio-b] note: data_dir /elsewhere is ignored" in "\n".join(lines)
    assert f"connect and check {staging}" in results[2].message
    assert list(staging.iterdir()) == []
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


@pytest.mark.slow
def test_a_bundle_that_fails_its_health_check_is_refused(tmp_path):
    data, key = device_folder(tmp_path)
    store = BundleStore(data / "bundles")
    store.install(DEFAULT_BUNDLE)
    before = store.current()
    with pytest.raises(
        InstallError, match=r"health check failed: .*unhealthy: (midi: )?19 scale values outside 0.04..1.10"
    ):
        store.install(unhealthy_copy(tmp_path / "bad", key))
    assert store.current() == before and not [p for p in store.root.iterdir() if p.name.startswith(".staging-")]


# -- what never reaches ssh --------------------------------------------------------------------------------
EVIL_HOSTS = [
    "-oProxyCommand=touch {mark}",
    "-F/dev/null",
    "pi@studio -oProxyCommand=touch {mark}",
    "pi@studio\n-oProxyCommand=touch {mark}",
    "pi@studio\tx",
    "pi@\x1b[2Jstudio",
    "",
]


@pytest.mark.parametrize("host", EVIL_HOSTS)
def test_an_inventory_host_ssh_would_read_as_an_option_is_refused_before_ssh_runs(tmp_path, monkeypatch, host):
    mark = tmp_path / "PROXY-COMMAND-RAN"
    host = host.format(mark=mark)
    ran: list = []
    monkeypatch.setattr(flash_module.subprocess, "run", lambda *a, **k: ran.append(a) or pytest.fail(f"ran {a}"))
    inventory = tmp_path / "devices.toml"
    inventory.write_text(f'[[device]]\nname = "studio-1"\nhost = {json.dumps(host)}\n')  # JSON escapes are TOML's
    with pytest.raises(FlashError) as refused:
        read_inventory(inventory)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{inventory}: device 1 ('studio-1'): "), message
    assert "refused" in message or "no host" in message
    # given as --host (no inventory), flash_all refuses it before checking the bundle or running anything
    bundle = signed_copy(tmp_path / "b", Ed25519PrivateKey.generate(), "release-9")
    with pytest.raises(FlashError, match=r"^device .*(refused|no host)"):
        flash_all([Device(host=host)], bundle, tmp_path, [])
    assert ran == [] and not mark.exists()


def test_ssh_and_scp_end_their_options_before_the_host():
    device = Device(host="pi@studio-1.local", identity="/k", ssh_options=("UserKnownHostsFile=/kh",))
    ssh = flash_module._ssh(device)
    assert ssh[-2:] == ["--", "pi@studio-1.local"]
    scp = flash_module._scp(device, Path("/tmp/bundle.tar"), "/var/tmp/pianocoach-incoming/x.tar.part")
    assert scp[-3:] == ["--", "/tmp/bundle.tar", "pi@studio-1.local:/var/tmp/pianocoach-incoming/x.tar.part"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("port", 0),
        ("port", "22; rm -rf /"),
        ("staging", "relative/incoming"),
        ("staging", "/var/tmp/a b"),
        ("staging", "/var/tmp/$(id)"),
        ("staging", "/var/tmp/../etc"),
        ("ssh_options", ("X=\n",)),
    ],
)
def test_other_inventory_values_that_would_reach_a_shell_are_refused(tmp_path, field, value):
    bundle = signed_copy(tmp_path / "b", Ed25519PrivateKey.generate(), "release-9")
    with pytest.raises(FlashError, match="refused"):
        flash_all([Device(host="pi@studio-1.local", name="studio-1", **{field: value})], bundle, tmp_path, [])


def test_the_name_on_the_device_is_never_the_bundle_id(tmp_path):
    """A bundle's id is the bundle's to choose: the tar made here and its name on the device come from
    its contents' hash, in the plain form the device's gate accepts."""
    folder = signed_copy(tmp_path / "b", Ed25519PrivateKey.generate(), "release-9")
    (tmp_path / "work").mkdir()
    tar = as_tar(folder, tmp_path / "work")
    assert tar == tmp_path / "work" / "bundle.tar"
    name = remote_name(tar)
    assert name == f"bundle-{sha256_file(tar)[:12]}.tar" and NAME_PATTERN.fullmatch(name)
    odd = tmp_path / "a name; with $(things).tar"
    odd.write_bytes(tar.read_bytes())
    assert as_tar(odd, tmp_path) == odd and remote_name(odd) == name
    assert Device(host="x").pianocoach == "sudo -n -u pianocoach /usr/local/sbin/pianocoach-flash"
