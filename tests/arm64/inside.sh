#!/usr/bin/env bash
# Run by tests/arm64/smoke.sh inside the arm64 root (chroot, as root): install the device as a Pi installs it,
# then the device's commands, each timed ("arm64-smoke-step NAME SECONDS"); the last line says "passed".
#
#   install.sh --no-service --wheels=/root/wheels    (offline: the pinned aarch64 wheels, spidev built here)
#   (which health-checks the bundle it installs), then, as the service user: pianocoach --help; verify-bundle on
#   the built-in and the installed bundle; score a MIDI file twice (the first after the install as fast as the
#   second: nothing compiles on the device) and a WAV; the appliance daemon (pianocoach.appliance.demo: gpiozero's
#   mock pins, the image display, the file speech) for one performance of the MIDI take; the time pianocoach run
#   takes to its idle screen (pianocoach.appliance.startup_bench); the bench's block time for the MIDI take
#   (pianocoach.bench --case); jianzipu explain; no JIT compiler installed.
set -euo pipefail

VENV=/opt/pianocoach/venv
TAKES=/tmp/takes  # readable by the service user

step() {
    local name="$1"
    shift
    local started="$EPOCHREALTIME"
    echo "==> $name"
    "$@"
    awk -v a="$started" -v b="$EPOCHREALTIME" -v n="$name" 'BEGIN { printf "arm64-smoke-step %s %.1f\n", n, b - a }'
}

as_service() {  # as firmware_config/install.sh runs things as the service user
    (cd / && runuser -u pianocoach -- /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/pianocoach LANG=C.UTF-8 \
        OMP_NUM_THREADS=1 "$@")
}

expect() {  # expect TEXT COMMAND...: the command passes and prints TEXT
    local text="$1"
    shift
    local out
    out="$("$@" 2>&1)" || { echo "$out"; echo "arm64-smoke-inside: failed: $*" >&2; exit 1; }
    echo "$out" | tail -n 5
    grep -qF -- "$text" <<< "$out" || { echo "arm64-smoke-inside: '$*' did not print '$text'" >&2; exit 1; }
}

[ "$(uname -m)" = aarch64 ] || { echo "arm64-smoke-inside: this is $(uname -m), not aarch64" >&2; exit 1; }
# its first bundle goes in as every later one does: verified, health-checked (every model run), switched to
step install expect "installed default-" bash /root/pianocoach/firmware_config/install.sh --no-service \
    --wheels=/root/wheels --health-timeout=1800
install -d -m 0755 "$TAKES"
install -m 0644 /root/takes/* "$TAKES/"

step help expect "COMMAND" as_service "$VENV/bin/pianocoach" --help
step verify_builtin expect "OK" as_service "$VENV/bin/pianocoach" verify-bundle
step verify_installed expect "OK" as_service "$VENV/bin/pianocoach" verify-bundle /var/lib/pianocoach/bundles/current
step score_midi_first expect '"overall"' as_service "$VENV/bin/pianocoach" score --json --no-piece "$TAKES/take.mid"
step score_midi_second expect '"overall"' as_service "$VENV/bin/pianocoach" score --json --no-piece "$TAKES/take.mid"
# the microphone path once: emulated, its convolutions take minutes (the install's health check ran it already)
step score_wav expect '"overall"' as_service "$VENV/bin/pianocoach" score --json --no-piece "$TAKES/take.wav"
step appliance expect "speech" as_service "$VENV/bin/python" -I -m pianocoach.appliance.demo \
    --input "$TAKES/take.mid" --fast --out /tmp/demo-output
ls /tmp/demo-output/frames/*.png >/dev/null  # the daemon drew its screens
ls /tmp/demo-output/speech/*.wav >/dev/null  # and spoke
# the bench's block times on the emulated core (ratios only: compare with the same case on the host); MIDI only: the
# microphone path's convolutions take about ten minutes a take emulated (score_wav above times it)
for kind in mid; do
    as_service "$VENV/bin/python" -I -m pianocoach.bench --case "$TAKES/take.$kind" > "/tmp/bench-$kind.json"
    "$VENV/bin/python" -I -c 'import json, sys
case = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("arm64-smoke-block %s %.1f %.1f" % (case["input"], case["block_ms_median"], case["peak_memory_mb"]))' \
        "/tmp/bench-$kind.json"
done
# pianocoach run from its start to the idle screen, as the service starts it (emulated; the goal is 10 s)
step startup_bench expect "to the idle screen" as_service "$VENV/bin/python" -I -m pianocoach.appliance.startup_bench \
    --runs 1 --take "$TAKES/take.mid" --timeout 600 --out /tmp/startup.json
"$VENV/bin/python" -I -c 'import json
row = next(iter(json.load(open("/tmp/startup.json"))["inputs"].values()))
print("arm64-smoke-step run_to_idle_screen %.1f" % row["median_s"])'
step jianzipu expect "勾" as_service "$VENV/bin/pianocoach" jianzipu explain 散勾三
step no_jit as_service "$VENV/bin/python" -I -c 'import importlib.util, sys
found = [m for m in ("numba", "llvmlite", "librosa", "resampy") if importlib.util.find_spec(m)]
sys.exit(f"JIT packages installed: {found}" if found else 0)'
echo "arm64-smoke-inside: passed"
