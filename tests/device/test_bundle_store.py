"""Installing bundles on the device: the happy path, rollback, and every fault the store must survive
(a tampered byte, an untrusted signer, a truncated tar, a full disk, a newer schema, two installs at
once, the installer killed at each step): a clear message, the old bundle still current and whole,
nothing left in the way of the next install."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bundle_helpers import pack, resign, signed_copy, trust
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pianocoach.appliance.config import Config
from pianocoach.bundle import DEFAULT_BUNDLE, verify_bundle
from pianocoach.bundle.store import LOCK, STEPS, BundleStore, InstallError
from pianocoach.bundle.trust import device_keys

pytestmark = pytest.mark.slow  # every test here installs bundles with health checks (7-22 s each)

KEY = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The built-in bundle installed once, health check included (each test gets a copy of the store)."""
    data = tmp_path_factory.mktemp("installed") / "device"
    return data, BundleStore(data / "bundles").install(DEFAULT_BUNDLE)


@pytest.fixture
def device(tmp_path, installed):
    """A data folder with a trusted test key and the built-in bundle installed once."""
    source, first = installed
    data = tmp_path / "device"
    shutil.copytree(source, data, symlinks=True)
    trust(data, KEY)
    store = BundleStore(data / "bundles")
    first = dataclasses.replace(first, folder=store.root / first.folder.name)
    return type("Device", (), {"data": data, "store": store, "key": KEY, "first": first, "tmp": tmp_path})


def a_new_bundle(device, name: str = "release-2") -> Path:
    """The built-in bundle's models under a new id, signed by the device's trusted test key."""
    return signed_copy(device.tmp / name, device.key, name)


def assert_old_bundle_current(device) -> None:
    assert device.store.current() == device.first.folder.name
    assert verify_bundle(device.store.current_link, device_keys()).ok
    assert not [p.name for p in device.store.root.iterdir() if p.name.startswith(".staging-")]


def test_install_switches_current_and_rollback_returns(device):
    assert device.first.previous is None and device.first.health["healthy"] and device.first.health["windows"] >= 1
    assert Config().with_overrides({"device.data_dir": str(device.data)}).bundle_path() == device.store.current_link
    second = device.store.install(pack(a_new_bundle(device), device.tmp / "release-2.tar"))
    assert second.bundle_id == "release-2" and second.previous == device.first.folder.name
    assert os.readlink(device.store.current_link) == "release-2"  # relative link: the folder can move
    assert device.store.status()["bundle_id"] == "release-2"
    assert device.store.rollback() == ("release-2", device.first.folder.name)
    assert_old_bundle_current(device)
    with pytest.raises(InstallError, match="no earlier bundle"):
        device.store.rollback()


def test_old_bundles_are_pruned_but_current_and_previous_kept(device):
    for n in range(2, 6):
        device.store.install(a_new_bundle(device, f"release-{n}"), health_check=False)
    status = device.store.status()
    assert status["installed"] == ["release-3", "release-4", "release-5"] and status["current"] == "release-5"
    assert not (device.store.root / device.first.folder.name).exists()


@pytest.mark.parametrize(
    "fault, message",
    [
        ("tampered", "sha256 differs from the manifest"),
        ("untrusted", "signed by key"),
        ("newer_schema", "manifest schema 99 is newer than this device reads"),
        ("truncated", "not a complete bundle archive"),
    ],
)
def test_a_bad_bundle_is_refused_and_the_old_one_stays(device, fault, message):
    bundle = a_new_bundle(device)
    if fault == "tampered":
        model = bundle / "models" / "midi_scorer.onnx"
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    elif fault == "untrusted":
        resign(bundle, Ed25519PrivateKey.generate())
    elif fault == "newer_schema":
        resign(bundle, device.key, schema_version=99)
    tar = pack(bundle, device.tmp / "bundle.tar")
    if fault == "truncated":
        with open(tar, "r+b") as handle:
            handle.truncate(tar.stat().st_size // 2)
    with pytest.raises(InstallError, match=message) as caught:
        device.store.install(tar)
    assert str(tar) in str(caught.value)  # the message names the file
    assert_old_bundle_current(device)
    assert device.store.install(a_new_bundle(device, "release-ok"), health_check=False).bundle_id == "release-ok"


def test_not_enough_free_space_is_refused_before_unpacking(device):
    bundle = a_new_bundle(device)
    free_mb = shutil.disk_usage(device.store.root).free / 1e6
    with pytest.raises(InstallError, match=r"not enough free space in .*bundles: .* MB needed"):
        device.store.install(bundle, reserve_mb=free_mb + 1000)
    assert_old_bundle_current(device)


def test_a_full_disk(device, tmp_path):
    """A real full disk: the store on a tmpfs half as large again as the default bundle: it holds one, not two."""
    small = tmp_path / "small"
    small.mkdir()
    bundle_mb = sum(p.stat().st_size for p in DEFAULT_BUNDLE.rglob("*") if p.is_file()) / 2**20
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={int(bundle_mb * 1.5) + 1}m", "tmpfs", str(small)],
            capture_output=True,
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root): the full-disk-while-unpacking case is not run")
    try:
        store = BundleStore(small / "bundles", device_keys())
        store.install(DEFAULT_BUNDLE, health_check=False, reserve_mb=0)
        first = store.current()
        with pytest.raises(InstallError, match=r"not enough free space .* MB free"):
            store.install(a_new_bundle(device), health_check=False, reserve_mb=0)
        assert store.current() == first and verify_bundle(store.current_link, device_keys()).ok
        assert not [p for p in store.root.iterdir() if p.name.startswith(".staging-")]
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_two_installs_at_once(device):
    with open(device.store.root / LOCK, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running install holds it
        with pytest.raises(InstallError, match="another install or rollback is running"):
            device.store.install(a_new_bundle(device))
        with pytest.raises(InstallError, match="another install or rollback is running"):
            device.store.rollback()
    assert_old_bundle_current(device)
    # two real installer processes started together: one installs, the other is told to wait
    bundles = [a_new_bundle(device, f"race-{n}") for n in (1, 2)]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "pianocoach.cli", "install-bundle", str(b), "--data-dir", str(device.data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for b in bundles
    ]
    outcomes = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    assert any("another install or rollback is running" in err for code, err in outcomes if code == 2)
    assert device.store.status()["bundle_id"] in ("race-1", "race-2")


@pytest.mark.parametrize("step", STEPS)
def test_the_installer_killed_at_each_step_leaves_a_working_device(device, step):
    bundle = a_new_bundle(device)
    env = {**os.environ, "PIANOCOACH_INSTALL_KILL_AT": step}
    run = subprocess.run(
        [sys.executable, "-m", "pianocoach.cli", "install-bundle", str(bundle), "--data-dir", str(device.data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == -9  # SIGKILL
    current = device.store.current()
    assert current in (device.first.folder.name, "release-2")
    assert current == ("release-2" if STEPS.index(step) >= STEPS.index("switched") else device.first.folder.name)
    assert verify_bundle(device.store.current_link, device_keys()).ok
    # the next install clears what the dead one left and succeeds
    again = device.store.install(a_new_bundle(device, "release-3"), health_check=False)
    assert again.bundle_id == "release-3" and device.store.current() == "release-3"
    names = {p.name for p in device.store.root.iterdir()}
    assert not [n for n in names if n.startswith(".staging-") or n == ".current.tmp"]
    assert set(device.store.record()["installed"]) == {
        n for n in names if (device.store.root / n).is_dir() and not n.startswith(".") and n != "current"
    }
