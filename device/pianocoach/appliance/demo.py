"""``make demo``: the whole appliance on a sample performance, on any machine.

Writes a learner's take of the built-in Minuet in G as MIDI (its first 8 bars, a wrong note in bar 3, a stop before
bar 6) and renders it with FluidSynth (or takes ``--input``), then runs the real
daemon with the ``image`` display, the ``file`` speech sink and gpiozero's mock pins: a button press to
start, one when the recording has been played, then presses through the result pages back to idle.
Prints the result report and where the frames, the speech WAV and the history are.

    python -m pianocoach.appliance.demo [--input FILE] [--out demo-output] [--fast] [--language en|zh] [--sheet PNG]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from pianocoach.appliance.config import Config
from pianocoach.console import add_verbose_flag, run_command

log = logging.getLogger(__name__)


def demo_config(out: Path, input_path: Path, language: str, realtime: bool) -> Config:
    return Config().with_overrides(
        {
            "device.data_dir": str(out),
            "device.language": language,
            "input.source": "file",
            "input.file": str(input_path),
            "input.realtime": realtime,
            "input.silence_stop_s": 0.0,  # the demo's second press ends the performance, as a player would
            "display.kind": "image",
            "display.image_dir": str(out / "frames"),
            "speech.sink": "file",
            "speech.file_dir": str(out / "speech"),
            "history.path": str(out / "history.sqlite"),
            "button.pin_factory": "mock",
            "button.led_pin": 27,
        }
    )


def run_demo(out: Path, input_path: Path | None, language: str = "en", realtime: bool = True) -> dict:
    """One performance through the appliance; returns what it left (paths, result, states)."""
    from pianocoach.appliance.driven import DrivenAppliance
    from pianocoach.appliance.sources import ReplaySource
    from pianocoach.render import render_midi
    from pianocoach.repertoire.practice_take import write_practice_take

    out.mkdir(parents=True, exist_ok=True)
    for left_before in ("frames", "speech"):  # only what an earlier demo left here, never anything else
        shutil.rmtree(out / left_before, ignore_errors=True)
    for name in ("history.sqlite", "history.sqlite-wal", "history.sqlite-shm"):
        (out / name).unlink(missing_ok=True)
    if input_path is None:  # a learner's take of a built-in piece: a wrong note in bar 3, a stop before bar 6
        midi = write_practice_take(out / "minuet-take.mid", "minuet-in-g", bars=8, wrong_bar="3", stop_before="6")
        input_path = render_midi(midi, out / "minuet-take.wav")
        log.info("wrote %s and rendered it with FluidSynth to %s", midi.name, input_path.name)
    driven = DrivenAppliance(demo_config(out, Path(input_path), language, realtime))
    daemon = driven.daemon
    try:
        driven.press()  # start
        driven.wait_state("listening", timeout=10)
        capture = daemon.capture
        assert capture is not None and isinstance(capture.source, ReplaySource)  # listening to the replayed file
        duration = capture.source.file.duration
        driven.wait_for(
            lambda: capture.session.notes.end >= duration - 0.01 or daemon.state != "listening",
            600,
            "the recording to be played",
        )
        if daemon.state == "listening":
            driven.press()  # stop
        if driven.wait_state("result", "message", timeout=300) == "message":
            raise RuntimeError(f"demo: the performance was not scored: {daemon.message}")
        result = daemon.last_result
        while daemon.state == "result":  # page through everything, as a curious player would
            driven.press()
        daemon.speaker.wait(120)
    finally:
        driven.close()
    frames = sorted((out / "frames").glob("*.png"))
    return {
        "input": str(input_path),
        "result": result,
        "frames": frames,
        "speech": sorted((out / "speech").glob("*.wav")),
        "history": out / "history.sqlite",
        "states": list(daemon.state_log),
    }


def contact_sheet(frames: list[Path], path: Path, scale: int = 3) -> Path:
    """Four telling frames side by side, enlarged without smoothing (the README's pictures): a listening
    frame with a mark so far, the overall result, the first scales page, and idle after the performance."""
    from PIL import Image

    def pick(state: str, test=lambda text: True, last: bool = False) -> Path:
        chosen = [f for f in frames if f.name.endswith(f"-{state}.png") and test(_frame_text(f))]
        return chosen[-1] if last else chosen[len(chosen) // 2] if state == "listening" else chosen[0]

    picks = [
        pick("listening", lambda t: len(t.splitlines()) > 2 and "·" in t),
        pick("result"),
        pick("result", lambda t: t.splitlines()[0].split()[0] in ("Scales", "各项")),
        pick("idle", last=True),
    ]
    images = [Image.open(f).convert("RGB") for f in picks]
    w, h = images[0].size
    gap = 6
    sheet = Image.new("RGB", (len(images) * (w * scale + gap) + gap, h * scale + 2 * gap), (128, 128, 128))
    for i, image in enumerate(images):
        sheet.paste(image.resize((w * scale, h * scale), Image.Resampling.NEAREST), (gap + i * (w * scale + gap), gap))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _frame_text(frame: Path) -> str:
    for line in (frame.parent / "frames.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["file"] == frame.name:
            return item["text"]
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach.appliance.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", type=Path, help="a recording (WAV/FLAC/MP3) or MIDI file instead of the sample piece"
    )
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="where frames, speech and history go")
    parser.add_argument("--language", choices=("en", "zh"), default="en")
    parser.add_argument("--fast", action="store_true", help="replay as fast as it scores instead of at playing speed")
    parser.add_argument("--sheet", type=Path, help="also write four frames side by side, enlarged, to this PNG")
    add_verbose_flag(parser)
    parser.set_defaults(run=_main)
    return run_command(parser.parse_args(argv), "demo")


def _main(args: argparse.Namespace) -> int:
    from pianocoach.terminal_report import format_report

    if args.input is not None and not args.input.is_file():
        from pianocoach.errors import InputFileError

        raise InputFileError(args.input, "no such file")
    left = run_demo(args.out, args.input, args.language, realtime=not args.fast)
    print(format_report(left["result"]))
    print()
    print(f"states: {' -> '.join(left['states'])}")
    print(f"display frames: {len(left['frames'])} PNGs in {args.out / 'frames'} (index: frames.jsonl)")
    if args.sheet:
        print(f"contact sheet: {contact_sheet(left['frames'], args.sheet)}")
    for wav in left["speech"]:
        print(f"speech: {wav}")
    print(f"history: {left['history']} (pianocoach history --set history.path={json.dumps(str(left['history']))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
