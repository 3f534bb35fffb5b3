"""Reading a bundle that arrives from outside (a ``.tar`` or a folder) without trusting it: verify first,
then write only what was verified.

1. **List** the members without writing anything: regular files (and folders) with plain relative names
   only; links, devices, FIFOs, sparse files, duplicates and compressed archives are refused; the number of
   members and the size of every header are bounded.
2. **Signature**: read ``manifest.json`` and ``signature.json`` (size-capped) and check the signature
   against the trusted keys. The first problem stops everything.
3. **Manifest**: parse it (ids and names checked by :class:`Manifest`); every member must be listed, and
   every listed file present with the size the manifest gives.
4. **Contents**: stream each listed file, never more bytes than the manifest says, hashing it (and, when
   unpacking, writing it with ``O_CREAT|O_EXCL|O_NOFOLLOW`` into folders this code made); the sha256 must
   match.

Nothing here parses a model. The tar reader is our own (ustar with PAX ``path``/``size`` records and GNU
long names): Python's ``tarfile`` extraction filters have had bypasses (CVE-2025-4517 and siblings, fixed
in CPython 3.11.13 / 3.12.11 / 3.13.4), and its header parsing reads a PAX header of any claimed size into
memory, so it is not used on untrusted input at all.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Generator

from pianocoach.bundle.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, SIGNATURE_NAME, Manifest, check_file_name
from pianocoach.bundle.signing import TrustedKey, check_signature
from pianocoach.errors import BundleError

BLOCK = 512
CHUNK = 1 << 20
MAX_MEMBERS = 256  # a bundle has a handful of files (at most 64) and their folders
MAX_SIGNATURE_BYTES = 4096
MAX_EXTENDED_HEADER = 64 * 1024  # a PAX record or GNU long name larger than this is refused, never read
MAX_EXTENDED_TOTAL = 256 * 1024  # all extended headers of one archive together (their parsing costs time)
MAX_DEPTH = 8  # folder levels inside a bundle ("models/x.onnx" is 2)
OCTAL, DECIMAL = re.compile(rb"[0-7]{1,12}"), re.compile(rb"[0-9]{1,15}")  # sizes: digits only, bounded
COMPRESSED_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
REGULAR_TYPES = {b"0", b"\x00", b"7"}  # "7": contiguous file, read as a regular one
TAR_TYPES = {
    b"1": "a hard link",
    b"2": "a symbolic link",
    b"3": "a character device",
    b"4": "a block device",
    b"6": "a FIFO",
    b"S": "a sparse file",
    b"K": "a long link name",
    b"g": "a global PAX header",
    b"V": "a volume header",
    b"M": "a multi-volume part",
}
# O_NONBLOCK: a FIFO put where a file was expected must not hang the open (regular files ignore it)
OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    offset: int = 0  # tar: where its data starts
    is_dir: bool = False


def shown(name: str) -> str:
    """A member name fit for a one-line message: printable and short."""
    text = name.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= 80 else text[:77] + "..."


# -- the sources -----------------------------------------------------------------------------------------
class TarBundle:
    """A plain (uncompressed) tar, read header by header. ``fd``: an already opened descriptor of it (the
    flashing gate opens the staged file once and checks that very file), which this object then owns."""

    def __init__(self, path: Path, fd: int | None = None) -> None:
        self.path = path
        self._extended_bytes = 0
        if fd is None:
            try:
                fd = os.open(path, OPEN_FILE)
            except OSError as exc:
                raise BundleError(path, _os_problem(exc, "cannot open the archive")) from None
        self.handle: BinaryIO = os.fdopen(fd, "rb")
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise BundleError(path, "not a regular file")
            self.size = os.fstat(fd).st_size
            self._members = self._read_index()
        except BaseException:
            self.handle.close()
            raise

    def close(self) -> None:
        self.handle.close()

    def members(self) -> dict[str, Member]:
        return self._members

    def open(self, member: Member) -> Generator[bytes, None, None]:
        self.handle.seek(member.offset)
        left = member.size
        while left > 0:
            chunk = self.handle.read(min(CHUNK, left))
            if not chunk:
                raise BundleError(self.path, f"{shown(member.name)}: the archive ends inside it (truncated)")
            left -= len(chunk)
            yield chunk

    # ustar: name 0-100, size 124-136, checksum 148-156, type 156, magic 257-263, prefix 345-500
    def _read_index(self) -> dict[str, Member]:
        head = self.handle.read(BLOCK)
        for magic, compression in COMPRESSED_MAGIC.items():
            if head.startswith(magic):
                raise BundleError(self.path, f"a {compression}-compressed archive: bundles are plain .tar files")
        if len(head) < BLOCK:
            raise BundleError(
                self.path,
                "an empty file, not a bundle archive" if not head else f"not a tar archive ({len(head)} bytes)",
            )
        members: dict[str, Member] = {}
        offset, pending, count = 0, {}, 0
        while True:
            self.handle.seek(offset)
            header = self.handle.read(BLOCK)
            if len(header) == 0 and offset > 0:
                break  # no end-of-archive blocks: tolerated, as GNU tar does
            if len(header) < BLOCK:
                raise BundleError(self.path, "not a complete bundle archive (it ends inside a header: truncated?)")
            if header == bytes(BLOCK):
                break  # end of archive
            count += 1
            if count > MAX_MEMBERS:
                raise BundleError(self.path, f"more than {MAX_MEMBERS} archive members: not a model bundle")
            _check_header(self.path, header, offset)
            kind, size = header[156:157], _octal(self.path, header[124:136], offset)
            data = offset + BLOCK
            end = data + -(-size // BLOCK) * BLOCK
            if data + size > self.size:
                raise BundleError(self.path, f"not a complete bundle archive (a member at byte {offset} is cut off)")
            if kind in (b"x", b"L"):
                pending.update(self._extended(kind, data, size, offset))
                offset = end
                continue
            name = pending.pop("path", None) or _ustar_name(header)
            size = int(pending.pop("size", size))
            if pending.pop("sparse", False) or kind not in REGULAR_TYPES | {b"5"}:
                what = "a sparse file" if kind in REGULAR_TYPES else TAR_TYPES.get(kind, f"a member of type {kind!r}")
                raise BundleError(self.path, f"{shown(name)} is {what}: a bundle holds regular files only")
            pending = {}
            member = _member(self.path, name, size, data, is_dir=kind == b"5")
            if member is not None:
                if member.name in members:
                    raise BundleError(self.path, f"{shown(member.name)} appears twice in the archive")
                members[member.name] = member
            offset = data + -(-size // BLOCK) * BLOCK
            if offset > self.size:
                raise BundleError(self.path, f"not a complete bundle archive ({shown(name)} is cut off)")
        return members

    def _extended(self, kind: bytes, data: int, size: int, offset: int) -> dict:
        """A PAX extended header (``path``, ``size``) or a GNU long name, size-capped."""
        if not 0 <= size <= MAX_EXTENDED_HEADER:
            raise BundleError(
                self.path,
                f"an extended tar header of {size} bytes at byte {offset} (at most {MAX_EXTENDED_HEADER} allowed)",
            )
        self._extended_bytes += size
        if self._extended_bytes > MAX_EXTENDED_TOTAL:
            raise BundleError(self.path, f"more than {MAX_EXTENDED_TOTAL} bytes of extended tar headers")
        self.handle.seek(data)
        raw = self.handle.read(size)
        if kind == b"L":
            return {"path": raw.rstrip(b"\x00").decode("utf-8", "replace")}
        return _pax_records(self.path, raw, offset)


class FolderBundle:
    """A bundle folder, walked without following links (the folder itself may be a link, as
    ``bundles/current`` is)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise BundleError(path, _os_problem(exc, "cannot open the bundle folder")) from None
        try:
            self._members: dict[str, Member] = {}
            self._walk(self.fd, "", 0)
        except OSError as exc:  # a folder swapped for a link while walked, or unreadable
            os.close(self.fd)
            raise BundleError(path, _os_problem(exc, "cannot read the bundle folder")) from None
        except BaseException:
            os.close(self.fd)
            raise

    def close(self) -> None:
        os.close(self.fd)

    def members(self) -> dict[str, Member]:
        return self._members

    def open(self, member: Member) -> Generator[bytes, None, None]:
        """The file's bytes, at most one more than listed (a file that grew is then caught by its size)."""
        fd = open_below(self.fd, member.name, self.path)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size != member.size:
                raise BundleError(self.path, f"{shown(member.name)}: changed while the bundle was read")
            left = member.size + 1
            while left > 0 and (chunk := handle.read(min(CHUNK, left))):
                left -= len(chunk)
                yield chunk

    def _walk(self, dir_fd: int, prefix: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise BundleError(self.path, f"{shown(prefix)}: folders nested too deep")
        with os.scandir(dir_fd) as entries:
            for entry in entries:
                name = prefix + entry.name
                if len(self._members) >= MAX_MEMBERS:
                    raise BundleError(self.path, f"more than {MAX_MEMBERS} files and folders: not a model bundle")
                if entry.is_symlink():
                    raise BundleError(self.path, f"{shown(name)} is a symbolic link: a bundle holds regular files only")
                if entry.is_dir(follow_symlinks=False):
                    self._members[name] = _walked(_member(self.path, name, 0, is_dir=True))
                    sub = os.open(entry.name, OPEN_DIR, dir_fd=dir_fd)
                    try:
                        self._walk(sub, name + "/", depth + 1)
                    finally:
                        os.close(sub)
                elif entry.is_file(follow_symlinks=False):
                    self._members[name] = _walked(_member(self.path, name, entry.stat(follow_symlinks=False).st_size))
                else:
                    raise BundleError(self.path, f"{shown(name)} is not a regular file (a device, FIFO or socket)")


def open_source(path: str | Path) -> TarBundle | FolderBundle:
    path = Path(path)
    if path.is_dir():
        return FolderBundle(path)
    if not path.exists() and not path.is_symlink():
        raise BundleError(path, "no such bundle (expected a folder or a .tar)")
    return TarBundle(path)


def open_below(root_fd: int, name: str, where: Path) -> int:
    """Open ``name`` (a checked relative path) under ``root_fd`` for reading, refusing a link anywhere."""
    parts = name.split("/")
    fd = root_fd
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, OPEN_DIR, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = next_fd
        return os.open(parts[-1], OPEN_FILE, dir_fd=fd)
    except OSError as exc:
        raise BundleError(where, f"{shown(name)}: {_os_problem(exc, 'cannot open it')}") from None
    finally:
        if fd != root_fd:
            os.close(fd)


# -- verification ----------------------------------------------------------------------------------------
def verified_manifest(source: TarBundle | FolderBundle, keys: list[TrustedKey]) -> Manifest:
    """Steps 1-3: the signature first, then the manifest and the member list against it. Raises
    :class:`BundleError` with the first problem."""
    return read_signed(source, keys)[0]


def read_signed(source: TarBundle | FolderBundle, keys: list[TrustedKey]) -> tuple[Manifest, bytes, bytes]:
    """:func:`verified_manifest`, with the exact manifest and signature bytes that were checked."""
    members = source.members()
    for name in (MANIFEST_NAME, SIGNATURE_NAME):
        if name not in members or members[name].is_dir:
            what = "not a model bundle?" if name == MANIFEST_NAME else "the bundle is not signed"
            raise BundleError(source.path, f"missing {name} ({what})")
    raw = read_small(source, members[MANIFEST_NAME], MAX_MANIFEST_BYTES)
    signature = read_small(source, members[SIGNATURE_NAME], MAX_SIGNATURE_BYTES)
    problem = check_signature(raw, signature, keys)
    if problem:
        raise BundleError(source.path, problem)
    manifest = Manifest.from_bytes(
        raw, source.path / MANIFEST_NAME if isinstance(source, FolderBundle) else source.path
    )
    listed = set(manifest.files) | {MANIFEST_NAME, SIGNATURE_NAME}
    folders = {"/".join(name.split("/")[:i]) for name in listed for i in range(1, name.count("/") + 1)}
    member: Member | None
    for name, member in sorted(members.items()):
        if name not in (folders if member.is_dir else listed):
            raise BundleError(
                source.path, f"unexpected {'folder' if member.is_dir else 'file'} {shown(name)} (not in the manifest)"
            )
    for name, entry in sorted(manifest.files.items()):
        member = members.get(name)
        if member is None or member.is_dir:
            raise BundleError(source.path, f"missing file {shown(name)}")
        if member.size != entry.size:
            raise BundleError(source.path, f"{shown(name)}: size {member.size} bytes, manifest says {entry.size}")
    return manifest, raw, signature


def read_small(source: TarBundle | FolderBundle, member: Member, limit: int) -> bytes:
    if member.size > limit:
        raise BundleError(source.path, f"{member.name}: {member.size} bytes, more than the {limit} allowed")
    data = b"".join(source.open(member))
    if len(data) != member.size:
        raise BundleError(source.path, f"{member.name}: changed while the bundle was read")
    return data


def check_contents(
    source: TarBundle | FolderBundle, manifest: Manifest, write: Callable[[str], BinaryIO] | None = None
) -> list[str]:
    """Step 4: hash every listed file (writing it through ``write(name)`` when given); the problems."""
    problems = []
    members = source.members()
    for name, entry in sorted(manifest.files.items()):
        digest, seen = hashlib.sha256(), 0
        target = write(name) if write else None
        try:
            for chunk in source.open(members[name]):
                seen += len(chunk)
                if seen > entry.size:  # a file that grew since it was listed: never more than claimed
                    break
                digest.update(chunk)
                if target is not None:
                    target.write(chunk)
            if target is not None:
                target.flush()
                os.fsync(target.fileno())
        finally:
            if target is not None:
                target.close()
        if seen != entry.size:
            problems.append(f"{shown(name)}: {seen} bytes read, manifest says {entry.size} (changed while read?)")
        elif digest.hexdigest() != entry.sha256:
            problems.append(f"{shown(name)}: sha256 differs from the manifest (changed or corrupted)")
    return problems


def unpack_verified(
    path: str | Path,
    dest: Path,
    keys: list[TrustedKey],
    before_write: Callable[[Manifest], None] | None = None,
    fd: int | None = None,
) -> Manifest:
    """Verify ``path`` (a .tar or folder) and write its listed files into the new folder ``dest``.
    ``before_write(manifest)`` runs once the signature and member list have passed (a free-space check).
    Raises :class:`BundleError` with the first problem; ``dest`` may then hold part of the files (the
    caller removes it). ``fd``: the archive already opened (a tar only; this function closes it)."""
    source = TarBundle(Path(path), fd) if fd is not None else open_source(path)
    try:
        manifest, raw, signature = read_signed(source, keys)
        if before_write is not None:
            before_write(manifest)
        os.mkdir(dest, 0o755)
        root_fd = os.open(dest, OPEN_DIR)
        try:
            problems = check_contents(source, manifest, lambda name: create_below(root_fd, name, dest))
            for name, data in ((MANIFEST_NAME, raw), (SIGNATURE_NAME, signature)):  # the very bytes checked
                with create_below(root_fd, name, dest) as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
            _fsync_tree(root_fd, manifest)
        finally:
            os.close(root_fd)
        if problems:
            raise BundleError(
                Path(path), problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            )
        return manifest
    finally:
        source.close()


def create_below(root_fd: int, name: str, where: Path) -> BinaryIO:
    """A new file ``name`` (a checked relative path) under ``root_fd``: its folders are made here, and
    neither the file nor any folder on the way may already exist as a link."""
    parts = name.split("/")
    fd = root_fd
    try:
        for part in parts[:-1]:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            next_fd = os.open(part, OPEN_DIR, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = next_fd
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
        return os.fdopen(out, "wb")
    except OSError as exc:
        raise BundleError(where, f"{shown(name)}: {_os_problem(exc, 'cannot write it')}") from None
    finally:
        if fd != root_fd:
            os.close(fd)


def _fsync_tree(root_fd: int, manifest: Manifest) -> None:
    """Folders made durable too, so a power cut after the switch cannot leave a bundle without files."""
    folders = sorted(
        {"/".join(n.split("/")[:i]) for n in manifest.files for i in range(1, n.count("/") + 1)}, reverse=True
    )
    for folder in folders:
        fd = os.open(folder, OPEN_DIR, dir_fd=root_fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.fsync(root_fd)


# -- tar details ------------------------------------------------------------------------------------------
def _check_header(path: Path, header: bytes, offset: int) -> None:
    try:
        stored = int(header[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        stored = -1
    blank = header[:148] + b" " * 8 + header[156:]
    if stored not in (sum(blank), sum(b - 256 if b > 127 else b for b in blank)):
        where = "" if offset == 0 else f" at byte {offset}"
        raise BundleError(path, f"not a tar archive (bad header checksum{where})")


def _octal(path: Path, field: bytes, offset: int) -> int:
    if field[:1] and field[0] & 0x80:  # base-256: sizes of 8 GB and more
        raise BundleError(path, f"a member at byte {offset} claims 8 GB or more")
    digits = field.replace(b"\x00", b" ").strip() or b"0"
    if not OCTAL.fullmatch(digits):  # int(x, 8) would also take "-1", "+7" and "1_0"
        raise BundleError(path, f"not a tar archive (unreadable size at byte {offset})")
    return int(digits, 8)


def _ustar_name(header: bytes) -> str:
    name = header[0:100].split(b"\x00", 1)[0]
    if header[257:263] == b"ustar\x00":  # POSIX ustar; the old GNU format ("ustar  ") keeps times there
        prefix = header[345:500].split(b"\x00", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "replace")


def _pax_records(path: Path, raw: bytes, offset: int) -> dict:
    """``"<length> <key>=<value>\\n"`` records: ``path`` and ``size`` are used, sparse-file keys refused,
    the rest (times, owners) ignored."""
    found: dict = {}
    pos = 0
    while pos < len(raw) and raw[pos : pos + 1] != b"\x00":
        space = raw.find(b" ", pos, pos + 20)
        try:
            length = int(raw[pos:space])
        except ValueError:
            raise BundleError(path, f"a malformed PAX header at byte {offset}") from None
        record = raw[space + 1 : pos + length]
        if length <= 0 or pos + length > len(raw) or not record.endswith(b"\n") or b"=" not in record:
            raise BundleError(path, f"a malformed PAX header at byte {offset}")
        key, _, value = record[:-1].partition(b"=")
        if key == b"path":
            found["path"] = value.decode("utf-8", "replace")
        elif key == b"size":
            if not DECIMAL.fullmatch(value):
                raise BundleError(path, f"a malformed PAX size at byte {offset}")
            found["size"] = int(value)
        elif key.startswith(b"GNU.sparse"):
            found["sparse"] = True
        pos += length
    return found


def _member(path: Path, name: str, size: int, offset: int = 0, is_dir: bool = False) -> Member | None:
    """A checked member; None for the archive's own root (``.`` or ``./``). A leading ``./`` (what
    ``tar -C folder -cf x.tar .`` writes) is dropped; anything else that is not a plain relative name
    is refused."""
    name = name[2:] if name.startswith("./") else name
    name = name.rstrip("/") if is_dir else name
    if name in ("", "."):
        return None
    problem = check_file_name(name) if name not in (MANIFEST_NAME, SIGNATURE_NAME) else None
    if problem:
        raise BundleError(path, f"the archive holds {problem}")
    return Member(name, size, offset, is_dir)


def _walked(member: Member | None) -> Member:
    """A folder entry's member: never the root, which only a tar lists."""
    assert member is not None, "a folder entry has a name"
    return member


def _os_problem(exc: OSError, what: str) -> str:
    import errno

    reasons: dict[int | None, str]  # an OSError's errno may be None
    reasons = {
        errno.ELOOP: "a symbolic link (refused)",
        errno.ENOENT: "no such file",
        errno.ENOSPC: "the disk is full",
        errno.EEXIST: "already exists",
        errno.ENOTDIR: "a path through something that is not a folder",
        errno.EACCES: "permission denied",
    }
    return f"{what}: {reasons.get(exc.errno, exc.strerror or type(exc).__name__)}"
