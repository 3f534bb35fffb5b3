#!/usr/bin/env bash
# Install PianoCoach on a Raspberry Pi (Raspberry Pi OS Bookworm, arm64) from a checkout of this repository:
#
#   sudo firmware_config/install.sh [--with-llm] [--no-service] [--release-key=FILE.pub]
#
#   --with-llm     also build llama-cpp-python on this board (-march=native for its own CPU: a Pi 5's build
#                  uses dot-product instructions a Pi 4 lacks; about an hour on a Pi 4) for the feedback model
#   --no-service   install everything but do not enable or start the systemd service
#   --release-key  trust this public key (make keygen KEY_NAME=release) and stop trusting the packaged
#                  development key: from then on only bundles you signed install or load (the built-in
#                  development-signed bundle stops loading too: flash a release-signed one next)
#
# What it does: apt packages; a system user "pianocoach" in the audio, gpio, i2c and spi groups; a venv in
# /opt/pianocoach/venv with ./device and its Pi extras; the default model bundle in
# /var/lib/pianocoach/bundles; /etc/pianocoach/config.toml (kept if it exists); the systemd unit.
# It does not edit /boot/firmware/config.txt: copy the blocks you need from firmware_config/config.txt.
set -euo pipefail

WITH_LLM=0
SERVICE=1
RELEASE_KEY=""
for arg in "$@"; do
    case "$arg" in
        --with-llm) WITH_LLM=1 ;;
        --no-service) SERVICE=0 ;;
        --release-key=*) RELEASE_KEY="${arg#--release-key=}" ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/pianocoach
VENV="$PREFIX/venv"
DATA=/var/lib/pianocoach
LLAMA_CPP_PYTHON="llama-cpp-python==0.3.36"

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo $0)" >&2
    exit 2
fi
if [ "$(uname -m)" != aarch64 ]; then
    echo "install.sh: warning: this is $(uname -m), not a 64-bit Raspberry Pi OS; carrying on" >&2
fi

echo "==> Debian packages"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    python3 python3-venv python3-dev build-essential \
    libportaudio2 alsa-utils espeak-ng libsndfile1 \
    fonts-dejavu-core fonts-arphic-uming \
    i2c-tools liblgpio1 python3-lgpio \
    sudo \
    $([ "$WITH_LLM" = 1 ] && echo cmake git)

echo "==> user pianocoach"
if ! id pianocoach >/dev/null 2>&1; then
    useradd --system --home-dir "$DATA" --shell /usr/sbin/nologin pianocoach
fi
for group in audio gpio i2c spi; do
    getent group "$group" >/dev/null || groupadd --system "$group"
    usermod -a -G "$group" pianocoach
done

echo "==> Python environment in $VENV"
mkdir -p "$PREFIX"
# system site packages: Debian's python3-lgpio is the pin factory gpiozero uses on Bookworm
[ -x "$VENV/bin/python" ] || python3 -m venv --system-site-packages "$VENV"
"$VENV/bin/pip" install --upgrade pip
"$VENV/bin/pip" install -r "$REPO/device/requirements.txt"
# basic-pitch's transcription model; its own metadata pulls tensorflow, which the device never needs
"$VENV/bin/pip" install --no-deps basic-pitch==0.4.0
"$VENV/bin/pip" install "$REPO/device[pi]"
if [ "$WITH_LLM" = 1 ]; then
    echo "==> llama-cpp-python for this board's CPU (long)"
    CMAKE_ARGS="-DGGML_NATIVE=ON" "$VENV/bin/pip" install --no-binary llama-cpp-python "$LLAMA_CPP_PYTHON"
fi
cp "$REPO/README.md" "$PREFIX/README.md"

echo "==> data and the default model bundle in $DATA"
mkdir -p "$DATA/bundles" "$DATA/trusted_keys" /etc/pianocoach
chown -R pianocoach:pianocoach "$DATA"
# the first bundle goes in as every later one does (verify, health check, atomic switch); a device that
# already has one keeps it
if [ ! -e "$DATA/bundles/current" ]; then
    BUNDLE_SRC="$("$VENV/bin/python" -c 'from pianocoach.bundle import DEFAULT_BUNDLE; print(DEFAULT_BUNDLE)')"
    runuser -u pianocoach -- "$VENV/bin/pianocoach" install-bundle "$BUNDLE_SRC" --data-dir "$DATA"
fi

if [ -n "$RELEASE_KEY" ]; then
    echo "==> trusting $RELEASE_KEY only (the packaged development key is removed)"
    install -m 0644 -o pianocoach -g pianocoach "$RELEASE_KEY" "$DATA/trusted_keys/$(basename "$RELEASE_KEY")"
    PACKAGED="$("$VENV/bin/python" -c 'from pianocoach.bundle.signing import PACKAGED_KEYS; print(PACKAGED_KEYS)')"
    rm -f "$PACKAGED/development.pub"
fi

echo "==> flashing from a workstation: group pianocoach-flash may run pianocoach as the service user"
getent group pianocoach-flash >/dev/null || groupadd --system pianocoach-flash
SUDOERS=/etc/sudoers.d/pianocoach-flash
echo "%pianocoach-flash ALL=(pianocoach) NOPASSWD: $VENV/bin/pianocoach" > "$SUDOERS.tmp"
chmod 0440 "$SUDOERS.tmp"
visudo -cf "$SUDOERS.tmp" >/dev/null && mv "$SUDOERS.tmp" "$SUDOERS"
echo "    add the SSH user you flash as: sudo usermod -aG pianocoach-flash <user>"
echo "    trust your release key: copy release.pub into $DATA/trusted_keys/"

if [ -e /etc/pianocoach/config.toml ]; then
    echo "==> keeping /etc/pianocoach/config.toml"
else
    install -m 0644 "$REPO/firmware_config/config.toml" /etc/pianocoach/config.toml
fi
# a bad configuration stops here, with the key named, instead of in a restart loop
"$VENV/bin/python" -c 'import sys; from pianocoach.appliance.config import load_config; load_config(sys.argv[1])' \
    /etc/pianocoach/config.toml

echo "==> systemd unit"
install -m 0644 "$REPO/firmware_config/pianocoach.service" /etc/systemd/system/pianocoach.service
systemctl daemon-reload
if [ "$SERVICE" = 1 ]; then
    systemctl enable --now pianocoach.service
    echo "PianoCoach is running: journalctl -u pianocoach -f"
else
    echo "installed; start it with: sudo systemctl enable --now pianocoach"
fi
