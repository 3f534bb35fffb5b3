"""The configuration the appliance tests run under: a file replayed without waiting, the image display, speech
to files, gpiozero's mock pins, everything under one test folder."""

from __future__ import annotations

from pianocoach.appliance.config import Config


def appliance_config(tmp_path, input_file, **overrides) -> Config:
    settings = {
        "device.data_dir": str(tmp_path),
        "input.source": "file",
        "input.file": str(input_file),
        "input.realtime": False,
        "input.silence_stop_s": 2.0,
        "display.kind": "image",
        "speech.sink": "file",
        "button.pin_factory": "mock",
        "button.led_pin": 27,
    }
    settings.update(overrides)
    return Config().with_overrides(settings)
