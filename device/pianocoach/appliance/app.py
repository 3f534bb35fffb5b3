"""Putting the appliance together from its configuration: display, speech, history, button, input and
the daemon; and the ``pianocoach run`` / ``pianocoach history`` commands."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass

from pianocoach.appliance.bundle_commands import write_pid_file
from pianocoach.appliance.button import ButtonError, ButtonInput, pin_factory
from pianocoach.appliance.config import Config, config_from_args
from pianocoach.appliance.daemon import Daemon
from pianocoach.appliance.display import open_display
from pianocoach.appliance.history import History, format_history
from pianocoach.appliance.sources import open_source
from pianocoach.appliance.speech import open_speaker
from pianocoach.feedback.choose import open_writer

log = logging.getLogger(__name__)


@dataclass
class Appliance:
    daemon: Daemon
    button: ButtonInput | None

    def close(self) -> None:
        self.daemon.shutdown()
        self.daemon.speaker.close()
        self.daemon.display.close()
        self.daemon.history.close()
        if self.button is not None:
            self.button.close()


# glibc malloc settings for the long-running daemon (the systemd unit sets them too). Measured by the soak
# (100 sessions of a 10 s recording): with glibc's defaults resident memory climbed by 74 MB; two arenas alone
# still +77 MB in swings of 30-40 MB; two arenas and a fixed 128 KB mmap threshold kept it flat (390-399 MB
# while librosa's numba was on the device, 179-189 MB since).
# glibc gives busy threads (capture, display, speech, ONNX Runtime, OpenBLAS) arenas of their own, and its
# mmap threshold rises after big frees, so later big numpy buffers land in the heap and fragment it.
MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}


def reexec_with_malloc_settings(module: str) -> None:
    """Start this command again with :data:`MALLOC_ENV` unless it is already set. It must be the
    environment: ``mallopt(M_ARENA_MAX)`` from Python comes too late, glibc fixes the arena limit when
    the first thread arena is made, which numpy's import already did."""
    if all(name in os.environ for name in MALLOC_ENV) or not sys.platform.startswith("linux"):
        return
    for name, value in MALLOC_ENV.items():
        os.environ.setdefault(name, value)
    # -I: isolated, so neither PYTHON* variables nor a `pianocoach/` folder in the working directory can
    # put other code in the re-executed process (-I drops PYTHONUNBUFFERED too: -u keeps its meaning)
    flags = ["-I"] + (["-u"] if os.environ.get("PYTHONUNBUFFERED") else [])
    os.execv(sys.executable, [sys.executable, *flags, "-m", module, *sys.argv[1:]])


def build_appliance(config: Config, factory=None, warm: bool = True) -> Appliance:
    """Everything wired together; ``factory``: a gpiozero pin factory (tests pass a MockFactory)."""
    language = config.device.language
    display = open_display(config.display, language, config.image_dir())
    speaker = open_speaker(config.speech, config.speech_dir())
    history = History(config.history_path())

    def load_feedback(scorer):  # from the bundle the daemon has just verified and loaded, never before
        return open_writer(config.feedback, scorer.verification, preload=warm)

    daemon = Daemon(config, display, speaker, history, lambda: open_source(config.input), load_feedback=load_feedback)
    button = None
    try:
        factory = factory if factory is not None else pin_factory(config.button.pin_factory)
        button = ButtonInput(config.button, daemon.press, daemon.long_press, factory)
        daemon.on_state = button.show_state
    except ButtonError as exc:  # without a button the daemon still runs (a test bench, a broken pin)
        log.error("%s; running without a button", exc)
    if warm:
        from pianocoach.scoring import warm_up

        warm_up(config.input.kind())
    daemon.start()
    return Appliance(daemon, button)


def run_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    appliance = build_appliance(config)
    for signum in (signal.SIGTERM, signal.SIGINT):  # systemd stops the service with SIGTERM
        signal.signal(signum, lambda *_: appliance.daemon.shutdown())
    # SIGHUP (pianocoach install-bundle / rollback, or systemctl reload): load the now-current bundle
    signal.signal(signal.SIGHUP, lambda *_: appliance.daemon.request_reload())
    pid_file = write_pid_file(config.data_dir)
    log.info("PianoCoach running (config: %s; pid %d in %s)", config.source, os.getpid(), pid_file)
    try:
        appliance.daemon.run()
    finally:
        appliance.close()
        pid_file.unlink(missing_ok=True)
    return 0


def history_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    history = History(config.history_path())
    try:
        items = history.last(args.last)
    finally:
        history.close()
    if args.json:
        for item in items:
            print(json.dumps(item, ensure_ascii=False))
    else:
        print(format_history(items))
    return 0
