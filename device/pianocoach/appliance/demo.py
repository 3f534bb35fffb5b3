"""``make demo``: the whole appliance on a sample performance, on any machine.

Writes a short piece as MIDI and renders it with FluidSynth (or takes ``--input``), then runs the real
daemon with the ``image`` display, the ``file`` speech sink and gpiozero's mock pins: a button press to
start, one when the recording has been played, then presses through the result pages back to idle.
Prints the result report and where the frames, the speech WAV and the history are.

    python -m pianocoach.appliance.demo [--input FILE] [--out demo-output] [--fast] [--language en|zh]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import threading
import time
from pathlib import Path

from pianocoach.appliance.config import Config
from pianocoach.console import add_verbose_flag, run_command

log = logging.getLogger(__name__)


def demo_config(out: Path, input_path: Path, language: str, realtime: bool) -> Config:
    return Config().with_overrides({
        "device.data_dir": str(out), "device.language": language,
        "input.source": "file", "input.file": str(input_path), "input.realtime": realtime,
        "input.silence_stop_s": 0.0,  # the demo's second press ends the performance, as a player would
        "display.kind": "image", "display.image_dir": str(out / "frames"),
        "speech.sink": "file", "speech.file_dir": str(out / "speech"),
        "history.path": str(out / "history.sqlite"), "button.pin_factory": "mock", "button.led_pin": 27,
    })


class MockFinger:
    """Presses the button through gpiozero's mock pin (pulled up; pressed = driven low)."""

    def __init__(self, button) -> None:
        self.pin = button.button.pin

    def press(self, hold_s: float = 0.1) -> None:
        self.pin.drive_low()
        time.sleep(hold_s)
        self.pin.drive_high()
        time.sleep(0.35)  # the daemon takes presses at least 0.3 s apart


def wait_for(condition, timeout: float, what: str, loop: threading.Thread) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if not loop.is_alive():
            raise RuntimeError(f"demo: the daemon stopped while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: timed out waiting for {what}")
        time.sleep(0.05)


def run_demo(out: Path, input_path: Path | None, language: str = "en", realtime: bool = True) -> dict:
    """One performance through the appliance; returns what it left (paths, result, states)."""
    from pianocoach.appliance.app import build_appliance
    from pianocoach.render import render_midi
    from pianocoach.sample_piece import write_sample_piece

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if input_path is None:
        midi = write_sample_piece(out / "sample-piece.mid", seconds=14)
        input_path = render_midi(midi, out / "sample-piece.wav")
        log.info("wrote %s and rendered it with FluidSynth to %s", midi.name, input_path.name)
    appliance = build_appliance(demo_config(out, Path(input_path), language, realtime))
    daemon, finger = appliance.daemon, MockFinger(appliance.button)
    loop = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    loop.start()
    try:
        finger.press()  # start
        wait_for(lambda: daemon.state == "listening", 10, "listening", loop)
        capture = daemon.capture
        duration = capture.source.file.duration
        wait_for(lambda: capture.session.notes.end >= duration - 0.01 or daemon.state != "listening", 600,
                 "the recording to be played", loop)
        if daemon.state == "listening":
            finger.press()  # stop
        wait_for(lambda: daemon.state in ("result", "message"), 300, "the result", loop)
        if daemon.state == "message":
            raise RuntimeError(f"demo: the performance was not scored: {daemon.message}")
        result = daemon.last_result
        while daemon.state == "result":  # page through everything, as a curious player would
            finger.press()
        daemon.speaker.wait(120)
    finally:
        daemon.shutdown()
        loop.join(timeout=30)
        appliance.close()
    frames = sorted((out / "frames").glob("*.png"))
    return {"input": str(input_path), "result": result, "frames": frames, "speech": sorted((out / "speech").glob("*.wav")),
            "history": out / "history.sqlite", "states": daemon.state_log}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach.appliance.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, help="a recording (WAV/FLAC/MP3) or MIDI file instead of the sample piece")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="where frames, speech and history go")
    parser.add_argument("--language", choices=("en", "zh"), default="en")
    parser.add_argument("--fast", action="store_true", help="replay as fast as it scores instead of at playing speed")
    add_verbose_flag(parser)
    parser.set_defaults(run=_main)
    return run_command(parser.parse_args(argv), "demo")


def _main(args: argparse.Namespace) -> int:
    from pianocoach.report import format_report

    if args.input is not None and not args.input.is_file():
        from pianocoach.errors import InputFileError

        raise InputFileError(args.input, "no such file")
    left = run_demo(args.out, args.input, args.language, realtime=not args.fast)
    print(format_report(left["result"]))
    print()
    print(f"states: {' -> '.join(left['states'])}")
    print(f"display frames: {len(left['frames'])} PNGs in {args.out / 'frames'} (index: frames.jsonl)")
    for wav in left["speech"]:
        print(f"speech: {wav}")
    print(f"history: {left['history']} (pianocoach history --set history.path={json.dumps(str(left['history']))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
