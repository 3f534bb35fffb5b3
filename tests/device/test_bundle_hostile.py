"""Hostile bundles, made here by the tests: every case is refused in one line naming the file, nothing is
written outside the store's staging folder (which is removed), the previous bundle stays current and
verifying, and memory stays bounded. Python's tar filter bugs (CVE-2025-4517 and siblings) cannot matter:
nothing here is extracted by ``tarfile``, so these cases pass on a Python that has them.

The cases are the security audit's: a tar that plants a trusted key through a link, traversal, absolute
names, links, devices, FIFOs, sparse and duplicate members, compressed archives, huge headers, unsigned
and wrongly signed bundles (refused before anything is written), signed manifests with unsafe ids or
names, unlisted members, folder bundles with links, models that refer to external data.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from bundle_helpers import pack, resign, signed_copy, trust
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pianocoach.bundle import DEFAULT_BUNDLE, verify_bundle
from pianocoach.bundle.archive import MAX_MEMBERS
from pianocoach.bundle.onnx_refs import external_references
from pianocoach.bundle.store import BundleStore, InstallError
from pianocoach.bundle.trust import device_keys

ONE_LINE_LIMIT = 300  # characters a refusal may take


KEY = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A data folder with the built-in bundle installed (once; each test gets a copy)."""
    data = tmp_path_factory.mktemp("installed") / "device"
    BundleStore(data / "bundles").install(DEFAULT_BUNDLE, health_check=False)
    return data


@pytest.fixture
def device(tmp_path, installed):
    """A data folder whose trust folder holds a test key, with the built-in bundle installed."""
    data = tmp_path / "device"
    shutil.copytree(installed, data, symlinks=True)
    keys_dir = trust(tmp_path, KEY)
    store = BundleStore(data / "bundles")
    first = type("First", (), {"folder": store.root / store.current()})
    return type(
        "Device", (), {"data": data, "store": store, "key": KEY, "first": first, "tmp": tmp_path, "keys_dir": keys_dir}
    )


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with what it is (a link target, a size), to compare before and after."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            found[str(path.relative_to(root))] = (
                f"-> {os.readlink(path)}"
                if stat.S_ISLNK(info.st_mode)
                else "dir"
                if stat.S_ISDIR(info.st_mode)
                else str(info.st_size)
            )
    return found


def refused(device, source: Path, match: str) -> str:
    """Install ``source``: refused with one line naming it and matching ``match``; nothing changed."""
    before = tree(device.tmp)
    with pytest.raises(InstallError) as caught:
        device.store.install(source, health_check=False)
    message = str(caught.value)
    assert match in message, message
    assert "\n" not in message and len(message) <= ONE_LINE_LIMIT and str(source) in message
    after = tree(device.tmp)
    assert after == before, {k: after.get(k) for k in set(after) ^ set(before)}
    assert device.store.current() == device.first.folder.name
    intact = verify_bundle(device.store.current_link, check_models=False)  # signature, files, checksums
    assert intact.ok, intact.problems
    return message


def a_bundle(device, name: str = "release-2") -> Path:
    return signed_copy(device.tmp / "work" / name, device.key, name)


def member(
    name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, **fields
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    for key, value in fields.items():
        setattr(info, key, value)
    return info, (data if info.size else None)


def raw_tar(path: Path, members, fmt: int = tarfile.PAX_FORMAT) -> Path:
    """A tar of exactly these members, written by tarfile's writer (which writes whatever it is given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def bundle_members(folder: Path):
    return [member(p.relative_to(folder).as_posix(), p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


# -- archives that must never be extracted -------------------------------------------------------------
def test_a_link_that_would_plant_a_trusted_key_is_refused_and_nothing_is_written(device):
    """The audit's attack: an unsigned tar whose link leads into the trust folder, then a file through it
    (the shape of the CVE-2025-4517 proof of concept), and one outside the data folder."""
    bundle = a_bundle(device)
    outside = os.path.relpath(device.tmp / "outside", device.store.root)
    tar = raw_tar(
        device.tmp / "evil.tar",
        [
            member("keys", kind=tarfile.SYMTYPE, linkname=os.path.relpath(device.keys_dir, device.store.root)),
            member("keys/rogue.pub", b"-----BEGIN PUBLIC KEY-----\n"),
            member("out", kind=tarfile.SYMTYPE, linkname=outside),
            member("out/planted.txt", b"x"),
            *bundle_members(bundle),
        ],
    )
    refused(device, tar, "keys is a symbolic link: a bundle holds regular files only")
    assert not (device.keys_dir / "rogue.pub").exists() and not (device.tmp / "outside").exists()


@pytest.mark.parametrize(
    "name, match",
    [
        ("../escape.txt", "not a plain relative path"),
        ("/tmp/absolute.txt", "an absolute path"),
        ("models/../../escape.txt", "not a plain relative path"),
        (".hidden", "not a plain relative path"),
        ("models\\x.onnx", "not a plain relative path"),
    ],
)
def test_unsafe_member_names_are_refused(device, name, match):
    tar = raw_tar(device.tmp / "names.tar", [member(name, b"x"), *bundle_members(a_bundle(device))])
    refused(device, tar, match)


@pytest.mark.parametrize(
    "kind, what",
    [
        (tarfile.LNKTYPE, "a hard link"),
        (tarfile.CHRTYPE, "a character device"),
        (tarfile.BLKTYPE, "a block device"),
        (tarfile.FIFOTYPE, "a FIFO"),
        (tarfile.GNUTYPE_SPARSE, "a sparse file"),
    ],
)
def test_links_devices_fifos_and_sparse_members_are_refused(device, kind, what):
    tar = raw_tar(
        device.tmp / "kinds.tar",
        [*bundle_members(a_bundle(device)), member("models/odd", kind=kind, linkname="manifest.json")],
        fmt=tarfile.GNU_FORMAT,
    )
    refused(device, tar, f"models/odd is {what}")


def test_a_pax_sparse_member_is_refused(device):
    info, data = member("models/sparse.bin", b"\0" * 512)
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "models/sparse.bin"}
    refused(
        device, raw_tar(device.tmp / "sparse.tar", [*bundle_members(a_bundle(device)), (info, data)]), "a sparse file"
    )


def test_a_member_twice_is_refused(device):
    members = bundle_members(a_bundle(device))
    tar = raw_tar(device.tmp / "twice.tar", members + [members[0]])
    refused(device, tar, "appears twice in the archive")


@pytest.mark.parametrize("compress, kind", [(gzip.compress, "gzip"), (None, "bzip2"), (None, "xz")])
@pytest.mark.slow
def test_compressed_archives_are_refused_before_reading_them(device, compress, kind):
    plain = pack(a_bundle(device), device.tmp / "plain.tar").read_bytes()
    if kind == "bzip2":
        import bz2

        compress = bz2.compress
    elif kind == "xz":
        import lzma

        compress = lzma.compress
    target = device.tmp / f"bundle.tar.{kind}"
    target.write_bytes(compress(plain))
    refused(device, target, f"a {kind}-compressed archive: bundles are plain .tar files")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "an empty file, not a bundle archive"),
        (b"hello, not a tar\n" * 3, "not a tar archive"),
        (os.urandom(4096), "not a tar archive (bad header checksum)"),
    ],
)
def test_files_that_are_not_archives_get_one_line(device, content, match):
    target = device.tmp / "not-a-bundle.tar"
    target.write_bytes(content)
    refused(device, target, match)


def test_a_truncated_archive_is_refused(device):
    tar = pack(a_bundle(device), device.tmp / "cut.tar")
    with open(tar, "r+b") as handle:
        handle.truncate(tar.stat().st_size // 2)
    refused(device, tar, "cut off")


def test_a_huge_extended_header_is_refused_without_reading_it(device):
    """A PAX header that claims a gigabyte (tarfile would read it whole into memory); the archive is
    sparse on disk, and the refusal comes from the header alone."""
    tar = device.tmp / "huge-header.tar"
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 1 << 30
    with open(tar, "wb") as handle:
        handle.write(header.tobuf(tarfile.USTAR_FORMAT))
        handle.truncate(512 + (1 << 30) + 1024)
    refused(device, tar, "an extended tar header of 1073741824 bytes")


@pytest.mark.parametrize("size, match", [(7 * 10**9, "cut off"), (200 * 10**9, "claims 8 GB or more")])
def test_a_member_larger_than_the_archive_is_refused(device, size, match):
    """A header claiming 7 or 200 GB (a sparse file's logical size) in a small archive."""
    bundle = a_bundle(device)
    info = tarfile.TarInfo("models/big.bin")
    info.size = size
    tar = device.tmp / "big.tar"
    with tarfile.open(tar, "w", format=tarfile.GNU_FORMAT) as writer:
        for info_, data in bundle_members(bundle):
            writer.addfile(info_, io.BytesIO(data))
        end = writer.offset  # where the end-of-archive blocks begin
    with open(tar, "r+b") as handle:
        handle.truncate(end)
        handle.seek(end)
        handle.write(info.tobuf(tarfile.GNU_FORMAT) + bytes(1024))
    refused(device, tar, match)


def test_too_many_members_are_refused(device):
    members = [member(f"m{i}", b"") for i in range(MAX_MEMBERS + 1)]
    refused(device, raw_tar(device.tmp / "many.tar", members), f"more than {MAX_MEMBERS} archive members")


# -- signatures first: nothing is written for an unsigned or wrongly signed bundle -------------------------
def test_an_unsigned_bundle_is_refused_before_anything_is_written(device):
    bundle = a_bundle(device)
    (bundle / "signature.json").unlink()
    refused(device, pack(bundle, device.tmp / "unsigned.tar"), "missing signature.json (the bundle is not signed)")


@pytest.mark.parametrize(
    "fault, match",
    [
        ("untrusted", "which this device does not trust"),
        ("altered", "signature does not match manifest.json"),
        ("garbage", "signature file is malformed"),
    ],
)
def test_a_bad_signature_stops_at_once(device, fault, match):
    bundle = a_bundle(device)
    if fault == "untrusted":
        resign(bundle, Ed25519PrivateKey.generate())
    elif fault == "altered":
        raw = (bundle / "manifest.json").read_bytes().replace(b"release-2", b"release-3")
        (bundle / "manifest.json").write_bytes(raw)
    else:
        (bundle / "signature.json").write_bytes(b"\xff" * 100)
    # a model that would take ONNX Runtime minutes to refuse: never opened, the signature stops first
    (bundle / "models" / "midi_scorer.onnx").write_bytes(b"\x08" * 1000)
    message = refused(device, pack(bundle, device.tmp / f"{fault}.tar"), match)
    assert "sha256" not in message and "ONNX" not in message


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"bundle_id": ".staging-1-2"}, "is not a plain name"),
        ({"bundle_id": "../../x"}, "is not a plain name"),
        ({"bundle_id": ""}, "is not a plain name"),
        ({"files": {"/etc/passwd": {"sha256": "0" * 64, "size": 1}}}, "an absolute path"),
        ({"files": {"models/../../x": {"sha256": "0" * 64, "size": 1}}}, "not a plain relative path"),
        ({"files": {"models/x.onnx": {"sha256": "not-hex", "size": 1}}}, "not 64 lowercase hex digits"),
        ({"files": {"models/x.onnx": {"sha256": "0" * 64, "size": -5}}}, "size -5 outside"),
    ],
)
def test_a_signed_manifest_with_unsafe_ids_or_names_is_refused(device, changes, match):
    bundle = resign(a_bundle(device), device.key, **changes)
    refused(device, pack(bundle, device.tmp / "unsafe.tar"), match)


def test_a_signed_bundle_with_an_unlisted_file_is_refused(device):
    bundle = a_bundle(device)
    (bundle / "models" / "extra.onnx").write_bytes(b"x")
    refused(device, pack(bundle, device.tmp / "extra.tar"), "unexpected file models/extra.onnx")


def test_a_file_larger_than_the_manifest_says_is_refused(device):
    bundle = a_bundle(device)
    with open(bundle / "models" / "audio_scorer.onnx", "ab") as handle:
        handle.write(b"\0" * 100)
    refused(device, pack(bundle, device.tmp / "grown.tar"), "models/audio_scorer.onnx: size")


# -- folders ---------------------------------------------------------------------------------------------
def test_a_folder_bundle_with_a_linked_folder_is_refused_and_not_counted_as_small(device):
    """The audit copied 3.2 GB through a linked folder that the space check counted as 9 MB."""
    bundle = a_bundle(device)
    big = device.tmp / "big"
    big.mkdir()
    (big / "blob").write_bytes(b"\0" * 4096)
    (bundle / "extra").symlink_to(big, target_is_directory=True)
    refused(device, bundle, "extra is a symbolic link")


def test_a_folder_bundle_with_a_link_loop_or_a_fifo_gets_one_short_line(device):
    bundle = a_bundle(device)
    (bundle / "loop").symlink_to("loop")
    refused(device, bundle, "loop is a symbolic link")
    (bundle / "loop").unlink()
    os.mkfifo(bundle / "fifo")
    refused(device, bundle, "fifo is not a regular file")


def test_an_installed_bundle_changed_into_a_link_fails_verification(device):
    current = device.store.root / device.first.folder.name
    target = current / "models" / "midi_scorer.onnx"
    saved = device.tmp / "saved.onnx"
    os.rename(target, saved)
    target.symlink_to(saved)
    result = verify_bundle(current)
    assert not result.ok and "symbolic link" in result.problems[0] and len(result.problems) == 1


# -- models ----------------------------------------------------------------------------------------------
def with_external_tensor(model: bytes, location: str) -> bytes:
    """The model's bytes with one more graph initializer that keeps its data in ``location``: protobuf
    merges a repeated ``graph`` field into the first, so appending is enough (no onnx package needed)."""

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
            value >>= 7
            if not value:
                return bytes(out)

    entry = field(1, b"location") + field(2, location.encode())
    tensor = (
        varint(1 << 3)
        + varint(1)
        + varint(2 << 3)
        + varint(1)
        + field(8, b"stolen")
        + field(13, entry)
        + varint(14 << 3)
        + varint(1)
    )
    return model + field(7, field(5, tensor))


@pytest.mark.parametrize("location", ["../../../../etc/shadow", "models/audio_scorer.onnx", "huge-3GB.bin"])
@pytest.mark.slow
def test_a_signed_model_that_refers_to_external_data_is_refused_before_onnx_runtime(device, location):
    bundle = a_bundle(device)
    model = bundle / "models" / "midi_scorer.onnx"
    model.write_bytes(with_external_tensor(model.read_bytes(), location))
    assert external_references(model.read_bytes()) == [location]
    manifest = json.loads((bundle / "manifest.json").read_text())
    import hashlib

    manifest["files"]["models/midi_scorer.onnx"] = {
        "sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "size": model.stat().st_size,
    }
    resign(bundle, device.key, files=manifest["files"])
    refused(device, pack(bundle, device.tmp / "external.tar"), "refers to external data")


# -- trust anchors ---------------------------------------------------------------------------------------
def test_a_malformed_key_is_skipped_and_the_others_still_work(device, caplog):
    (device.keys_dir / "openssh.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB test@host\n")
    (device.keys_dir / "empty.pub").write_bytes(b"")
    keys = device_keys()
    assert "test-release" in {k.name for k in keys} and "untrusted key file" in caplog.text
    assert (
        device.store.install(pack(a_bundle(device), device.tmp / "ok.tar"), health_check=False).bundle_id == "release-2"
    )


def test_a_trust_folder_others_may_write_is_not_trusted(device, caplog):
    device.keys_dir.chmod(0o777)
    try:
        assert "test-release" not in {k.name for k in device_keys()}
        assert "writable by group or others" in caplog.text
        store = BundleStore(device.store.root)  # a store reads the trusted keys when it opens
        with pytest.raises(InstallError, match=r"which this device does not trust \(trusted: none\)"):
            store.install(pack(a_bundle(device), device.tmp / "r.tar"), health_check=False)
        assert store.current() == device.first.folder.name
    finally:
        device.keys_dir.chmod(0o755)


def test_the_marker_file_distrusts_the_packaged_development_key(device):
    assert "development" in {k.name for k in device_keys()}
    (device.keys_dir / "packaged-keys.disabled").write_text("")
    assert {k.name for k in device_keys()} == {"test-release"}
    assert not verify_bundle(DEFAULT_BUNDLE).ok  # signed by the development key


def test_a_refusal_from_the_command_line_is_one_line(device):
    target = device.tmp / "bundle.tar.gz"
    target.write_bytes(gzip.compress(pack(a_bundle(device), device.tmp / "p.tar").read_bytes()))
    run = subprocess.run(
        [sys.executable, "-I", "-m", "pianocoach.cli", "install-bundle", str(target), "--data-dir", str(device.data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(f"pianocoach: error: {target}: refused: a gzip-compressed archive")
    verify = subprocess.run(
        [sys.executable, "-I", "-m", "pianocoach.cli", "verify-bundle", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 1 and "gzip-compressed" in verify.stdout and verify.stdout.count("\n") == 1


def test_a_health_check_that_prints_nothing_is_a_one_line_refusal(device, monkeypatch):
    """A child that exits 0 with no report (a broken interpreter, a killed pipe) is not a healthy bundle."""
    from pianocoach.bundle import store as store_module

    silent = device.tmp / "silent-python"
    silent.write_text("#!/bin/sh\nexit 0\n")
    silent.chmod(0o755)
    monkeypatch.setattr(store_module.sys, "executable", str(silent))
    with pytest.raises(InstallError, match=r"health check failed: it did not report a healthy bundle .*'empty'"):
        store_module.run_health_check(device.first.folder)


@pytest.mark.slow
def test_score_and_the_reader_trust_the_device_keys_not_only_the_packaged_ones(device, tmp_path):
    """A release-signed bundle (its key in the device's trust folder) is usable by `score --bundle` and
    `jianzipu read --bundle`; the same bundle is refused once the key is gone."""
    from PIL import Image

    from pianocoach.sample_piece import write_sample_piece

    bundle = a_bundle(device)
    clip = write_sample_piece(tmp_path / "clip.mid", seconds=8)
    image = tmp_path / "char.png"
    drawn = Image.new("L", (96, 96), 255)
    drawn.paste(0, (40, 10, 56, 86))  # a stroke: a blank page is refused before any model runs
    drawn.save(image)
    cli = [sys.executable, "-I", "-m", "pianocoach.cli"]
    score = subprocess.run(
        cli + ["score", "--json", "--bundle", str(bundle), str(clip)], capture_output=True, text=True, timeout=180
    )
    assert score.returncode == 0 and json.loads(score.stdout)["bundle_id"] == "release-2", score.stderr
    read = subprocess.run(
        cli + ["jianzipu", "read", "--json", "--bundle", str(bundle), str(image)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert read.returncode == 0 and "confidence" in json.loads(read.stdout), read.stderr
    (device.keys_dir / "test-release.pub").unlink()
    refused_run = subprocess.run(
        cli + ["score", "--json", "--bundle", str(bundle), str(clip)], capture_output=True, text=True, timeout=180
    )
    assert refused_run.returncode == 2 and "which this device does not trust" in refused_run.stderr
    assert refused_run.stderr.count("\n") == 1


# -- the second audit's cases ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_a_negative_extended_header_size_is_refused_without_reading_the_file(device, kind):
    """int("-1", 8) is -1, and read(-1) reads to the end: a sparse 3 GB file would have been read whole."""
    header = bytearray(tarfile.TarInfo("x").tobuf(tarfile.USTAR_FORMAT))
    header[156:157] = kind
    header[124:136] = b"-1".ljust(12, b"\0")
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    tar = device.tmp / "negative.tar"
    with open(tar, "wb") as handle:
        handle.write(bytes(header))
        handle.truncate(3 << 30)
    refused(device, tar, "unreadable size at byte 0")


def test_extended_headers_are_capped_in_total(device):
    members = []
    for i in range(5):
        info, data = member(f"f{i}", b"x")
        info.pax_headers = {"comment": "c" * 60000}
        members.append((info, data))
    refused(device, raw_tar(device.tmp / "many-pax.tar", members), "more than 262144 bytes of extended tar headers")


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("pax-size", "9" * 5000, "a malformed PAX size at byte 0"),
        ("signature", "[" * 4000, "signature file is malformed (RecursionError)"),
    ],
)
def test_numbers_and_nesting_past_python_limits_get_one_line(device, field, value, match):
    bundle = a_bundle(device)
    if field == "signature":
        (bundle / "signature.json").write_text(value)
        refused(device, pack(bundle, device.tmp / "deep.tar"), match)
        return
    members = bundle_members(bundle)
    members[0][0].pax_headers = {"size": value}
    refused(device, raw_tar(device.tmp / "digits.tar", members), match)


def test_a_folder_file_swapped_for_a_fifo_after_listing_is_refused_without_hanging(device):
    from pianocoach.bundle.archive import FolderBundle, check_contents, verified_manifest

    bundle = a_bundle(device)
    source = FolderBundle(bundle)
    try:
        manifest = verified_manifest(source, device_keys())
        model = bundle / "models" / "audio_scorer.onnx"
        model.unlink()
        os.mkfifo(model)  # nobody ever writes to it: an open without O_NONBLOCK would wait for ever
        with pytest.raises(Exception, match="changed while the bundle was read"):
            check_contents(source, manifest)
    finally:
        source.close()


@pytest.mark.slow
def test_the_gate_installs_the_file_it_checked_even_if_the_name_is_swapped(device):
    """The staged file is opened once; renaming a link to a folder over its name changes nothing."""
    from pianocoach.appliance.flash_gate import staged_bundle

    staging = device.tmp / "incoming"
    staging.mkdir()
    pack(a_bundle(device), staging / "b.tar")
    path, fd = staged_bundle(staging, "b.tar")
    secret = device.tmp / "secret-folder"
    secret.mkdir()
    (staging / "swap").symlink_to(secret, target_is_directory=True)
    os.replace(staging / "swap", path)
    assert device.store.install(path, health_check=False, fd=fd).bundle_id == "release-2"


def test_an_unsafe_trust_folder_trusts_nothing_rather_than_the_development_key(device, caplog):
    (device.keys_dir / "packaged-keys.disabled").write_text("")
    assert {k.name for k in device_keys()} == {"test-release"}
    device.keys_dir.chmod(0o775)
    try:
        assert device_keys() == [] and "no key is trusted" in caplog.text
    finally:
        device.keys_dir.chmod(0o755)
    moved = device.keys_dir.with_name("real-keys")
    os.rename(device.keys_dir, moved)
    device.keys_dir.symlink_to(moved, target_is_directory=True)
    assert device_keys() == []


@pytest.mark.parametrize("bundle_id", ["installed.json", "current"])
@pytest.mark.slow
def test_a_bundle_id_that_is_one_of_the_stores_own_names_gets_another_folder(device, bundle_id):
    bundle = resign(a_bundle(device), device.key, bundle_id=bundle_id)
    result = device.store.install(pack(bundle, device.tmp / "r.tar"), health_check=False)
    assert result.folder.name == f"bundle-{bundle_id}" and device.store.current() == f"bundle-{bundle_id}"
    assert device.store.install(pack(a_bundle(device, "release-3"), device.tmp / "n.tar"), health_check=False)
    assert device.store.rollback() == ("release-3", f"bundle-{bundle_id}")


def test_the_manifest_written_is_the_one_whose_signature_was_checked(device):
    """The archive is changed after its signature passed (same length): the bytes that were checked are
    written, not whatever the file holds now."""
    from pianocoach.bundle.archive import unpack_verified

    tar = pack(a_bundle(device), device.tmp / "b.tar")
    raw = (device.tmp / "work" / "release-2" / "manifest.json").read_bytes()
    start = tar.read_bytes().index(raw)

    def tamper(manifest):
        with open(tar, "r+b") as handle:
            handle.seek(start)
            handle.write(b"[" + raw[1:])

    unpack_verified(tar, device.tmp / "out", device_keys(), before_write=tamper)
    assert (device.tmp / "out" / "manifest.json").read_bytes() == raw


@pytest.mark.parametrize("tar_format", ["gnu", "posix", "ustar"])
@pytest.mark.slow
def test_a_bundle_packed_by_hand_with_gnu_tar_installs(device, tar_format):
    """What a technician would type (`tar -C folder -cf b.tar .`): "./" names and folder entries are fine."""
    bundle = a_bundle(device)
    tar = device.tmp / f"by-hand-{tar_format}.tar"
    subprocess.run(["tar", f"--format={tar_format}", "-C", str(bundle), "-cf", str(tar), "."], check=True)
    assert device.store.install(tar, health_check=False).bundle_id == "release-2"
