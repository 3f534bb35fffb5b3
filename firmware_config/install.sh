#!/usr/bin/env bash
# Install PianoCoach on a Raspberry Pi (Raspberry Pi OS Bookworm, arm64) from a checkout of this repository:
#
#   sudo firmware_config/install.sh [--with-llm] [--no-service] [--release-key=FILE.pub] [--wheels=DIR]
#
#   --with-llm     also build llama-cpp-python on this board (-march=native for its own CPU: a Pi 5's build
#                  uses dot-product instructions a Pi 4 lacks; about an hour on a Pi 4) for the feedback model
#   --no-service   install everything but do not enable or start the systemd service
#   --wheels=DIR   install the Python packages from DIR only, offline (the pinned aarch64 wheels that
#                  make arm64-smoke downloads; spidev comes as its source, built here); with every Debian
#                  package already installed, apt is not run either
#   --packages     print the Debian packages it installs (besides lgpio's) and stop
#   --health-timeout=S  let the first bundle's health check take up to S seconds (default 180; an emulated
#                  board, as in make arm64-smoke, needs several minutes)
#   --release-key  trust this public key (make keygen KEY_NAME=release): it goes into
#                  /etc/pianocoach/trusted_keys/ (root's), with the marker packaged-keys.disabled, so the
#                  packaged development key is no longer trusted: from then on only bundles you signed
#                  install or load (the built-in development-signed bundle stops loading too: flash a
#                  release-signed one next). Both survive upgrades; nothing in site-packages is touched.
#
# What it does: apt packages; a system user "pianocoach" in the audio, gpio, i2c and spi groups; a venv in
# /opt/pianocoach/venv with ./device and its Pi extras (root's: the service user cannot change the code);
# the trust anchors in /etc/pianocoach/trusted_keys (root's); the default model bundle in
# /var/lib/pianocoach/bundles; /etc/pianocoach/config.toml (kept if it exists); the flashing gate
# /usr/local/sbin/pianocoach-flash, its staging folder /var/tmp/pianocoach-incoming and the sudoers rule
# for the group pianocoach-flash; the systemd unit.
# It does not edit /boot/firmware/config.txt: copy the blocks you need from firmware_config/config.txt.
set -euo pipefail

WITH_LLM=0
SERVICE=1
RELEASE_KEY=""
WHEELS=""
PRINT_PACKAGES=0
HEALTH_TIMEOUT=180
for arg in "$@"; do
    case "$arg" in
        --with-llm) WITH_LLM=1 ;;
        --no-service) SERVICE=0 ;;
        --release-key=*) RELEASE_KEY="${arg#--release-key=}" ;;
        --wheels=*) WHEELS="${arg#--wheels=}" ;;
        --packages) PRINT_PACKAGES=1 ;;
        --health-timeout=*) HEALTH_TIMEOUT="${arg#--health-timeout=}" ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

# the Debian packages the device needs (make arm64-smoke builds its arm64 root with these: --packages)
PACKAGES=(python3 python3-venv python3-dev build-essential libportaudio2 alsa-utils espeak-ng libsndfile1
    fonts-dejavu-core fonts-arphic-uming i2c-tools sudo)
if [ "$PRINT_PACKAGES" = 1 ]; then
    echo "${PACKAGES[*]}"
    exit 0
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/pianocoach
VENV="$PREFIX/venv"
DATA=/var/lib/pianocoach
TRUST=/etc/pianocoach/trusted_keys          # root's trust anchors (pianocoach.bundle.trust)
NO_PACKAGED_KEYS=packaged-keys.disabled     # marker in $TRUST: distrust the packaged development key
GATE=/usr/local/sbin/pianocoach-flash       # the flashing gate (firmware_config/pianocoach-flash)
STAGING=/var/tmp/pianocoach-incoming        # where make flash copies bundles (the gate reads them there)
SUDOERS=/etc/sudoers.d/pianocoach-flash
LLAMA_CPP_PYTHON="llama-cpp-python==0.3.36"

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo $0)" >&2
    exit 2
fi
if [ -n "$RELEASE_KEY" ]; then
    if [ ! -f "$RELEASE_KEY" ]; then
        echo "install.sh: --release-key=$RELEASE_KEY: no such file" >&2
        exit 2
    fi
    case "$(basename -- "$RELEASE_KEY")" in
        *[!A-Za-z0-9._-]*|.*|-*) echo "install.sh: --release-key=$RELEASE_KEY: name it with letters, digits, '.', '_', '-' (e.g. release.pub)" >&2; exit 2 ;;
        *.pub) ;;
        *) echo "install.sh: --release-key=$RELEASE_KEY: a public key file ending in .pub (make keygen writes NAME.pub)" >&2; exit 2 ;;
    esac
fi
case "$HEALTH_TIMEOUT" in
    ''|*[!0-9]*|0) echo "install.sh: --health-timeout=$HEALTH_TIMEOUT: a whole number of seconds, at least 1" >&2; exit 2 ;;
esac
if [ -n "$WHEELS" ] && [ ! -d "$WHEELS" ]; then
    echo "install.sh: --wheels=$WHEELS: no such folder" >&2
    exit 2
fi
if [ "$(uname -m)" != aarch64 ]; then
    echo "install.sh: warning: this is $(uname -m), not a 64-bit Raspberry Pi OS; carrying on" >&2
fi

echo "==> Debian packages"
if [ "$WITH_LLM" = 1 ]; then
    PACKAGES+=(cmake git)
fi
missing=()
for package in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f '${db:Status-Status}' "$package" 2>/dev/null)" = installed ] || missing+=("$package")
done
# gpiozero's pin factory on Bookworm: Raspberry Pi OS packages lgpio, Debian bookworm does not
NO_LGPIO="    python3-lgpio is not in this system's archive (not Raspberry Pi OS): no GPIO pin factory, the button needs one"
if [ "${#missing[@]}" = 0 ] && [ -n "$WHEELS" ]; then
    echo "    all installed"
    [ "$(dpkg-query -W -f '${db:Status-Status}' python3-lgpio 2>/dev/null)" = installed ] || echo "$NO_LGPIO"
else
    apt-get update
    lgpio="$(apt-cache policy python3-lgpio 2>/dev/null)"  # not piped into grep -q: pipefail and SIGPIPE
    if grep -q 'Candidate: [0-9]' <<< "$lgpio"; then
        PACKAGES+=(liblgpio1 python3-lgpio)
    else
        echo "$NO_LGPIO"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi

echo "==> user pianocoach"
if ! id pianocoach >/dev/null 2>&1; then
    useradd --system --home-dir "$DATA" --shell /usr/sbin/nologin pianocoach
fi
for group in audio gpio i2c spi; do
    getent group "$group" >/dev/null || groupadd --system "$group"
    usermod -a -G "$group" pianocoach
done

echo "==> Python environment in $VENV"
# root's, like everything the flashing gate runs: the service user cannot change the code
install -d -m 0755 -o root -g root "$PREFIX"
# system site packages: Debian's python3-lgpio is the pin factory gpiozero uses on Bookworm
[ -x "$VENV/bin/python" ] || python3 -m venv --system-site-packages "$VENV"
PIP_INSTALL=("$VENV/bin/pip" install --disable-pip-version-check)
if [ -n "$WHEELS" ]; then
    PIP_INSTALL+=(--no-index --find-links "$(cd "$WHEELS" && pwd)")  # offline: nothing but the given wheels
else
    "${PIP_INSTALL[@]}" --upgrade pip
fi
"${PIP_INSTALL[@]}" -r "$REPO/device/requirements.txt"
# an older device software carried librosa and numba (a JIT compiler, about 250 MB resident): remove them
"$VENV/bin/pip" uninstall -y -q librosa numba llvmlite resampy mir_eval scikit-learn scipy 2>/dev/null || true
# basic-pitch's transcription model; its own metadata pulls tensorflow, which the device never needs
"${PIP_INSTALL[@]}" --no-deps basic-pitch==0.4.0
"${PIP_INSTALL[@]}" "$REPO/device[pi]"
if [ "$WITH_LLM" = 1 ]; then
    echo "==> llama-cpp-python for this board's CPU (long)"
    CMAKE_ARGS="-DGGML_NATIVE=ON" "$VENV/bin/pip" install --no-binary llama-cpp-python "$LLAMA_CPP_PYTHON"
fi
cp "$REPO/README.md" "$PREFIX/README.md"

# Run something as the service user the way the flashing gate runs: from /, with a fixed environment.
as_service() {
    (cd / && runuser -u pianocoach -- /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
        OMP_NUM_THREADS=2 "$@")
}

echo "==> trust anchors in $TRUST (root's: nothing the service user or the flash group runs can change them)"
install -d -m 0755 -o root -g root /etc/pianocoach "$TRUST"
if [ -n "$RELEASE_KEY" ]; then
    KEY_FILE="$(basename -- "$RELEASE_KEY")"
    # it must load as an Ed25519 public key before the device depends on it
    "$VENV/bin/python" -I -c 'import sys
from pianocoach.bundle.signing import load_public_key
key = load_public_key(sys.argv[1])
print(f"    trusting {key.name} ({key.key_id}); the packaged development key no longer")' "$RELEASE_KEY"
    install -m 0644 -o root -g root -- "$RELEASE_KEY" "$TRUST/.$KEY_FILE.tmp"
    mv -f -- "$TRUST/.$KEY_FILE.tmp" "$TRUST/$KEY_FILE"
    printf '%s\n' "Written by install.sh --release-key: the keys packaged with the software are not trusted here." \
        > "$TRUST/$NO_PACKAGED_KEYS"
    chmod 0644 "$TRUST/$NO_PACKAGED_KEYS"
fi
# a key file root did not make (or others may write) is skipped by the device; say so here
for f in "$TRUST"/*.pub; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    if [ -L "$f" ] || [ ! -f "$f" ] || [ "$(stat -c %u -- "$f")" != 0 ] || [ -n "$(find "$f" -maxdepth 0 -perm /022)" ]; then
        echo "    warning: $f is not a root-owned regular file writable by root only: the device ignores it" >&2
    fi
done
"$VENV/bin/python" -I -c 'from pianocoach.bundle.trust import device_keys
keys = device_keys(allow_override=False)
print("    trusted: " + (", ".join(f"{k.name} ({k.key_id})" for k in keys) or "no key at all: no bundle installs or loads"))'
if [ -e "$DATA/trusted_keys" ] || [ -L "$DATA/trusted_keys" ]; then
    echo "    note: $DATA/trusted_keys/ is no longer read (the service user could write it) and its keys were not"
    echo "          copied: put a key you want trusted, after checking it, into $TRUST/ (install.sh --release-key=FILE)"
fi

echo "==> data and the default model bundle in $DATA"
if [ -L "$DATA" ] || { [ -e "$DATA" ] && [ ! -d "$DATA" ]; }; then
    echo "install.sh: $DATA is not a folder (a link or a file): move it away and run install.sh again" >&2
    exit 2
fi
[ -d "$DATA" ] || install -d -m 0755 -o pianocoach -g pianocoach "$DATA"
chown pianocoach:pianocoach "$DATA"  # that folder only: what is inside is the service user's, never walked by root
as_service mkdir -p "$DATA/bundles"
# the first bundle goes into bundles/current as every later one does (verify, health check, atomic switch),
# as the service user; a device keeps the bundle it has while this software still accepts it (an update
# that changed the feature code refuses bundles trained on the old features: the built-in one replaces it
# then), and one that no longer trusts the development key skips the built-in bundle
as_service "$VENV/bin/python" -I -c 'import sys
from pathlib import Path
from pianocoach.bundle import DEFAULT_BUNDLE, verify_bundle
from pianocoach.bundle.store import BundleStore
from pianocoach.bundle.trust import device_keys
keys = device_keys(allow_override=False)
store = BundleStore(Path(sys.argv[1]) / "bundles", keys)
if store.current() is not None:
    kept = verify_bundle(store.root / store.current(), keys, check_models=False)
    if kept.ok:
        print(f"    keeping the installed bundle {store.current()}")
        sys.exit(0)
    print(f"    the installed bundle {store.current()} no longer loads: {kept.problems[0]}")
check = verify_bundle(DEFAULT_BUNDLE, keys)
if not check.ok:
    print("    the built-in bundle is not installed: " + check.problems[0])
    print("    flash a bundle signed by a key this device trusts (make flash)")
    sys.exit(0)
result = store.install(DEFAULT_BUNDLE, health_timeout_s=float(sys.argv[2]))
print(f"    installed {result.bundle_id} ({result.folder})")' "$DATA" "$HEALTH_TIMEOUT"

echo "==> flashing from a workstation: group pianocoach-flash may run $GATE, and nothing else, as the service user"
getent group pianocoach-flash >/dev/null || groupadd --system pianocoach-flash
install -m 0755 -o root -g root "$REPO/firmware_config/pianocoach-flash" "$GATE.tmp"
mv -f "$GATE.tmp" "$GATE"
# the staging folder: root's, mode 1731 (the group adds files and removes only its own, the service user
# opens a named file); an older make flash made it as the flash user: such a folder is replaced
if [ -L "$STAGING" ] || { [ -e "$STAGING" ] && { [ ! -d "$STAGING" ] || [ "$(stat -c %u -- "$STAGING")" != 0 ]; }; }; then
    echo "    replacing $STAGING (not root's)"
    rm -rf -- "$STAGING"
fi
[ -d "$STAGING" ] || mkdir -m 0700 -- "$STAGING"
if [ -L "$STAGING" ] || [ "$(stat -c %u -- "$STAGING")" != 0 ]; then
    echo "install.sh: $STAGING was made by someone else while this ran: run install.sh again" >&2
    exit 2
fi
chown root:pianocoach-flash -- "$STAGING"
chmod 1731 -- "$STAGING"
# systemd-tmpfiles keeps it (its own line: /var/tmp's age cleanup leaves it alone) and makes it at boot
install -m 0644 -o root -g root "$REPO/firmware_config/pianocoach-tmpfiles.conf" /etc/tmpfiles.d/pianocoach.conf
printf '%s\n' "# written by PianoCoach's install.sh: the flash group may run the flashing gate (install NAME.tar," \
    "# status, rollback), and nothing else, as the service user" \
    "%pianocoach-flash ALL=(pianocoach) NOPASSWD: $GATE" > "$SUDOERS.tmp"  # a name with a dot: sudo skips it
chown root:root "$SUDOERS.tmp"
chmod 0440 "$SUDOERS.tmp"
if ! visudo -cf "$SUDOERS.tmp" >/dev/null; then
    rm -f "$SUDOERS.tmp"
    echo "install.sh: the sudoers rule did not pass visudo -c; $SUDOERS left as it was" >&2
    exit 2
fi
mv -f "$SUDOERS.tmp" "$SUDOERS"
echo "    add the SSH user you flash as: sudo usermod -aG pianocoach-flash <user>"
echo "    it runs: sudo -n -u pianocoach $GATE install NAME.tar | status | rollback"

if [ -e /etc/pianocoach/config.toml ]; then
    echo "==> keeping /etc/pianocoach/config.toml"
else
    install -m 0644 "$REPO/firmware_config/config.toml" /etc/pianocoach/config.toml
fi
# a bad configuration stops here, with the key named, instead of in a restart loop
"$VENV/bin/python" -I -c 'import sys; from pianocoach.appliance.config import load_config; load_config(sys.argv[1])' \
    /etc/pianocoach/config.toml

echo "==> systemd units"
install -m 0644 "$REPO/firmware_config/pianocoach.service" /etc/systemd/system/pianocoach.service
install -m 0644 "$REPO/firmware_config/pianocoach-web.service" /etc/systemd/system/pianocoach-web.service
# the companion page runs only when [web] enabled = true (one switch in config.toml)
WEB=0
"$VENV/bin/python" -I -c 'import sys; from pianocoach.appliance.config import load_config
sys.exit(0 if load_config(sys.argv[1]).web.enabled else 1)' /etc/pianocoach/config.toml && WEB=1
if [ ! -d /run/systemd/system ]; then
    # an SD-card image being built, a chroot (make arm64-smoke): systemd is not running, there is no bus to talk to;
    # enabling works on the files alone, so the image boots with the service
    if [ "$SERVICE" = 1 ]; then
        systemctl --root=/ enable pianocoach.service
        if [ "$WEB" = 1 ]; then systemctl --root=/ enable pianocoach-web.service; else systemctl --root=/ disable pianocoach-web.service >/dev/null 2>&1 || true; fi
        echo "installed and enabled; systemd is not running here: the service starts at the next boot"
    else
        echo "installed; systemd is not running here: on the device, start it with: sudo systemctl enable --now pianocoach"
    fi
    exit 0
fi
systemctl daemon-reload
if [ "$SERVICE" = 1 ]; then
    systemctl enable --now pianocoach.service
    if [ "$WEB" = 1 ]; then
        systemctl enable --now pianocoach-web.service
        echo "the companion page is on port $("$VENV/bin/python" -I -c 'import sys; from pianocoach.appliance.config import load_config; print(load_config(sys.argv[1]).web.port)' /etc/pianocoach/config.toml)"
    else
        systemctl disable --now pianocoach-web.service >/dev/null 2>&1 || true
    fi
    echo "PianoCoach is running: journalctl -u pianocoach -f"
else
    echo "installed; start it with: sudo systemctl enable --now pianocoach"
fi
