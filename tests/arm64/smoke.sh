#!/usr/bin/env bash
# make arm64-smoke (root): the device software installed and run on arm64, without a Pi.
#
# An arm64 Debian bookworm root (mmdebstrap from Debian's archive, run through qemu-user's binfmt handler),
# with the Debian packages firmware_config/install.sh installs; the pinned aarch64 wheels of
# device/requirements.txt downloaded here (spidev as its source: it has no wheel); then, inside the root,
# install.sh --no-service --wheels=... installs the device offline, as on a Pi, and tests/arm64/inside.sh runs
# the device's commands (tests/arm64/inside.sh says which). The root and the wheels are cached in .cache/arm64/;
# the times go to reports/arm64/smoke.json.
#
#   sudo make arm64-smoke            (host packages: make apt)
#
# Under qemu-user ONNX Runtime reads the host's /proc/cpuinfo (qemu passes the x86 one through) and crashes on
# import; a Cortex-A76-style cpuinfo (a Pi 5's core) is bind-mounted over the root's. Times are emulated: compare
# them as ratios, never with a Pi's.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$REPO/.cache/arm64"
REPORT="$REPO/reports/arm64/smoke.json"
PY="${PY:-$REPO/.venv/bin/python}"  # the host's Python: downloads the wheels, writes the takes
SUITE=bookworm
# the wheels install.sh asks pip for besides device/requirements.txt
EXTRA_WHEELS=(basic-pitch==0.4.0)
SOURCE_ONLY=("spidev>=3.6")  # device[pi]: no aarch64 wheel on PyPI; built in the root (build-essential)

say() { echo "arm64-smoke: $*"; }
fail() { echo "arm64-smoke: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || fail "run as root (it mounts binfmt_misc and /proc in the root, and chroots)"
for tool in qemu-aarch64-static mmdebstrap arch-test update-binfmts; do
    command -v "$tool" >/dev/null || fail "$tool is missing: run make apt (qemu-user-static, binfmt-support, mmdebstrap, arch-test)"
done
[ -x "$PY" ] || fail "$PY is missing: run make setup"

# qemu-user as the handler of arm64 binaries
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || fail "cannot mount binfmt_misc (a container without it cannot run arm64 binaries)"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
arch-test arm64 >/dev/null 2>&1 || fail "this machine cannot run arm64 binaries through qemu-user (arch-test arm64)"

mkdir -p "$CACHE" "$(dirname "$REPORT")"
read -r -a PACKAGES <<< "$(bash "$REPO/firmware_config/install.sh" --packages)"
PACKAGES+=(systemd)  # Raspberry Pi OS boots with it: install.sh puts its unit and tmpfiles rule in place
key="$(printf '%s\n' "$SUITE" "${PACKAGES[@]}" | sha256sum | cut -c1-12)"
ROOT_TAR="$CACHE/root-$SUITE-arm64-$key.tar"
started="$(now)"
root_cached=true
if [ ! -s "$ROOT_TAR" ]; then
    root_cached=false
    say "building the arm64 $SUITE root (a few minutes; cached as $ROOT_TAR)"
    mirror=()
    # the archive this machine's apt uses, when it has a deb822 list of it
    [ -f /etc/apt/sources.list.d/debian.sources ] && mirror=(/etc/apt/sources.list.d/debian.sources)
    packages="$(IFS=,; echo "${PACKAGES[*]}")"
    building="$CACHE/.building-$key.tar"  # mmdebstrap picks its output format from the name: keep .tar last
    mmdebstrap --quiet --format=tar --arch=arm64 --variant=apt --include="$packages" "$SUITE" "$building" \
        "${mirror[@]}" || { rm -rf "$building"; fail "mmdebstrap could not build the root"; }
    mv "$building" "$ROOT_TAR"
fi
root_s="$(since "$started")"

started="$(now)"
wheels_key="$(cat "$REPO/device/requirements.txt" <(printf '%s\n' "${EXTRA_WHEELS[@]}" "${SOURCE_ONLY[@]}") | sha256sum | cut -c1-12)"
WHEELS="$CACHE/wheels-$wheels_key"
if [ ! -f "$WHEELS/.complete" ]; then
    say "downloading the pinned aarch64 wheels (cached as $WHEELS)"
    rm -rf "$WHEELS"
    platform=(--only-binary=:all: --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64
        --platform manylinux_2_17_aarch64 --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none)
    "$PY" -m pip download -q --disable-pip-version-check "${platform[@]}" -r "$REPO/device/requirements.txt" -d "$WHEELS"
    "$PY" -m pip download -q --disable-pip-version-check "${platform[@]}" --no-deps "${EXTRA_WHEELS[@]}" -d "$WHEELS"
    "$PY" -m pip download -q --disable-pip-version-check --no-binary=:all: --no-deps "${SOURCE_ONLY[@]}" -d "$WHEELS"
    touch "$WHEELS/.complete"
fi
wheels_s="$(since "$started")"

WORK="$(mktemp -d /tmp/pianocoach-arm64.XXXXXX)"
ROOT="$WORK/root"
cleanup() {
    for mounted in "$ROOT/proc/cpuinfo" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev"; do
        mountpoint -q "$mounted" 2>/dev/null && umount -l "$mounted"
    done
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

say "the takes (written here with the host's FluidSynth)"
"$PY" - "$WORK/takes" <<'PYTHON'
import sys
from pathlib import Path

from pianocoach.render import render_midi
from pianocoach.sample_piece import write_sample_piece

folder = Path(sys.argv[1])
folder.mkdir(parents=True)
midi = write_sample_piece(folder / "take.mid", 12.0)
render_midi(midi, folder / "take.wav")
PYTHON

started="$(now)"
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$ROOT_TAR"
mkdir -p "$ROOT/root/pianocoach" "$ROOT/root/wheels" "$ROOT/root/takes"
tar -C "$REPO" --exclude=__pycache__ -cf - device firmware_config README.md | tar -C "$ROOT/root/pianocoach" -xf -
cp "$WHEELS"/* "$ROOT/root/wheels/"
cp "$WORK/takes"/* "$ROOT/root/takes/"
cp "$REPO/tests/arm64/inside.sh" "$ROOT/root/inside.sh"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount --rbind /sys "$ROOT/sys"
mount --make-rslave "$ROOT/sys"
# a Raspberry Pi 5's cores as ONNX Runtime's cpuinfo reader expects them (see the top of this file)
for cpu in 0 1; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n' "$cpu"
done > "$WORK/cpuinfo"
mount --bind "$WORK/cpuinfo" "$ROOT/proc/cpuinfo"
unpack_s="$(since "$started")"

say "installing and running the device inside the arm64 root (emulated: slow)"
started="$(now)"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    bash /root/inside.sh | tee "$WORK/inside.log"
inside_s="$(since "$started")"
grep -q '^arm64-smoke-inside: passed$' "$WORK/inside.log" || fail "the commands inside the root did not all pass"

"$PY" - "$REPORT" "$WORK/inside.log" "$root_cached" "$root_s" "$wheels_s" "$unpack_s" "$inside_s" <<'PYTHON'
import json
import sys
import time
from pathlib import Path

report, log, cached, root_s, wheels_s, unpack_s, inside_s = sys.argv[1:]
steps, blocks = {}, {}
for line in Path(log).read_text().splitlines():
    if line.startswith("arm64-smoke-step "):
        _, name, seconds = line.split()
        steps[name] = float(seconds)
    elif line.startswith("arm64-smoke-block "):  # input, block ms median, peak MB (pianocoach.bench --case)
        _, kind, block_ms, peak_mb = line.split()
        blocks[kind] = {"block_ms_median": float(block_ms), "peak_memory_mb": float(peak_mb)}
data = {
    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "machine": "x86_64 host, arm64 Debian bookworm root under qemu-user (emulated: compare as ratios)",
    "root_cached": cached == "true",
    "seconds": {"root": float(root_s), "wheels": float(wheels_s), "unpack": float(unpack_s), "inside": float(inside_s)},
    "inside_steps_s": steps,
    "bench_cases_emulated": blocks,
}
Path(report).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
print(f"arm64-smoke: passed ({'cached' if data['root_cached'] else 'cold'} root {root_s} s, inside {inside_s} s); {report}")
PYTHON
