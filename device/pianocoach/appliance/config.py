"""The appliance's settings: one TOML file (``firmware_config/config.toml`` documents every key) loaded
into typed, frozen dataclasses. An unknown section or key, a wrong type or a value out of range stops
start-up with :class:`ConfigError` naming the file and the key. ``section.key=value`` overrides (the
command line's ``--set``) go through the same checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pianocoach.toml_config import ConfigFileError, fill_dataclass, fill_tables, read_toml

# the feature settings' block length (pianocoach.inputs.base.BLOCK_SECONDS), copied so that reading the
# configuration loads no numpy (the web page's process reads it); tests/device/test_web_lean.py keeps them equal
BLOCK_SECONDS = 2.0


class ConfigError(ConfigFileError):
    """The configuration file or an override is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class DeviceConfig:
    data_dir: str = "/var/lib/pianocoach"  # history database, installed bundles, speech files
    bundle: str = ""  # a model bundle folder; empty: the bundle installed in data_dir, else the built-in one
    language: str = "en"  # "en" or "zh": screens, feedback and speech
    repertoire: str = (
        ""  # the folder of the pieces added with `pianocoach repertoire add`; empty: <data_dir>/repertoire
    )
    piece: str = ""  # the piece being practised, by its repertoire id; empty: each take's piece is recognised

    CHOICES = {"language": ("en", "zh")}


@dataclass(frozen=True)
class InputConfig:
    source: str = "microphone"  # "microphone", "midi" (a digital piano's MIDI out) or "file" (replay)
    microphone: str = ""  # a PortAudio device name or index; empty: the default input
    sample_rate: int = 44100
    midi_port: str = ""  # empty: the first MIDI input port
    # the digital piano sends its sustain pedal (CC64): a take without any was played without pedal. False: a take
    # without CC64 has the pedal unknown (many pianos send CC64 only while it moves, some never)
    midi_sends_pedal: bool = False
    file: str = ""  # the recording replayed when source = "file"
    realtime: bool = True  # replay a file at playing speed (as a microphone would deliver it)
    block_seconds: float = BLOCK_SECONDS
    silence_stop_s: float = 8.0  # stop listening after this much silence once playing has begun (0: never)
    silence_db: float = -50.0  # an audio block quieter than this (dBFS, RMS) counts as silence
    max_minutes: float = 15.0  # a performance is stopped after this long

    CHOICES = {"source": ("microphone", "midi", "file")}
    RANGES = {
        "sample_rate": (8000, 192000),
        "block_seconds": (0.5, 10.0),
        "silence_stop_s": (0.0, 600.0),
        "silence_db": (-120.0, 0.0),
        "max_minutes": (0.1, 120.0),
    }

    def kind(self) -> str:
        """What the daemon scores: "audio" (a microphone, a recording) or "midi" (a digital piano, a MIDI file)."""
        if self.source == "file":
            from pianocoach.inputs.files import input_kind

            return input_kind(self.file)
        return "midi" if self.source == "midi" else "audio"


@dataclass(frozen=True)
class ButtonConfig:
    pin: int = 17  # BCM number of the push button (to ground; the internal pull-up is used)
    led_pin: int = 27  # BCM number of the optional status LED; -1: none
    long_press_s: float = 1.5  # held this long: cancel
    bounce_s: float = 0.05
    pin_factory: str = ""  # gpiozero pin factory ("lgpio", "mock", ...); empty: gpiozero's default

    RANGES = {"pin": (0, 27), "led_pin": (-1, 27), "long_press_s": (0.3, 10.0), "bounce_s": (0.0, 1.0)}


@dataclass(frozen=True)
class DisplayConfig:
    kind: str = "ssd1306"  # "ssd1306" (I2C OLED), "st7735" / "ili9341" (SPI TFT), "image", "terminal"
    width: int = 128
    height: int = 64
    rotate: int = 0  # luma rotation: 0-3 quarter turns
    i2c_port: int = 1
    i2c_address: int = 0x3C
    spi_port: int = 0
    spi_device: int = 0
    gpio_dc: int = 24
    gpio_rst: int = 25
    gpio_backlight: int = 18
    image_dir: str = ""  # "image": where frames go; empty: <data_dir>/frames
    font: str = ""  # a TrueType font file; empty: DejaVu Sans (English), AR PL UMing (Chinese)
    result_page_s: float = 0.0  # turn result pages by themselves after this long (0: only by the button)
    result_timeout_s: float = 300.0  # back to idle after this long on the result pages

    CHOICES = {"kind": ("ssd1306", "st7735", "ili9341", "image", "terminal")}
    RANGES = {
        "width": (32, 1024),
        "height": (32, 1024),
        "rotate": (0, 3),
        "i2c_port": (0, 20),
        "i2c_address": (0x03, 0x77),
        "result_page_s": (0.0, 600.0),
        "result_timeout_s": (1.0, 86400.0),
    }


@dataclass(frozen=True)
class SpeechConfig:
    engine: str = "espeak"  # "espeak" (espeak-ng), "piper" (needs piper_voice) or "none"
    sink: str = "speaker"  # "speaker" (played with aplay) or "file" (WAV files kept in file_dir)
    voice: str = ""  # espeak-ng voice; empty: "en" or "cmn" (Mandarin) by language
    piper_voice: str = ""  # a Piper voice .onnx (its .onnx.json beside it)
    rate: int = 160  # espeak-ng words per minute
    file_dir: str = ""  # "file": where the WAVs go; empty: <data_dir>/speech
    playback: str = "aplay -q"  # the command that plays a WAV on the speaker sink

    CHOICES = {"engine": ("espeak", "piper", "none"), "sink": ("speaker", "file")}
    RANGES = {"rate": (60, 450)}


@dataclass(frozen=True)
class HistoryConfig:
    path: str = ""  # the SQLite file; empty: <data_dir>/history.sqlite
    keep_recordings: bool = False  # keep each take's audio (FLAC) or MIDI beside the history (the page plays it)
    recordings_dir: str = ""  # empty: <data_dir>/recordings
    recordings_mb: float = 2000.0  # the oldest recordings are deleted while the folder holds more

    RANGES = {"recordings_mb": (1.0, 1_000_000.0)}


@dataclass(frozen=True)
class FeedbackConfig:
    backend: str = "template"  # "template" (always there), "local" (llama.cpp on the bundle's GGUF) or "remote" (HTTP)
    threads: int = 2  # "local": llama.cpp threads (a Pi 4/5 has 4 cores; scoring is done by then)
    context: int = 1024  # "local": context length in tokens (the prompt is about 300)
    url: str = "http://127.0.0.1:8000"  # "remote": an OpenAI-compatible server; https:// unless on loopback
    remote_model: str = "pianocoach"  # "remote": the model name sent to the server
    api_key_env: str = "PIANOCOACH_LLM_KEY"  # "remote": the environment variable holding the key (never logged)
    api_key_file: str = ""  # "remote": or a file holding the key
    word_limit: int = 45  # words of advice (Chinese: twice as many characters)
    max_tokens: int = 160
    temperature: float = 0.2
    time_limit_s: float = 20.0  # no accepted sentence by then: the template text is used

    CHOICES = {"backend": ("template", "local", "remote")}
    RANGES = {
        "threads": (1, 64),
        "context": (256, 32768),
        "word_limit": (5, 300),
        "max_tokens": (8, 4096),
        "temperature": (0.0, 2.0),
        "time_limit_s": (0.5, 600.0),
    }


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = False  # the companion page (`pianocoach web`, pianocoach-web.service): off unless switched on
    host: str = "0.0.0.0"  # the address it listens on; requests from outside private networks are refused anyway
    port: int = 8080
    session_days: int = 30  # a paired browser stays paired this long

    RANGES = {"port": (1, 65535), "session_days": (1, 365)}


@dataclass(frozen=True)
class Config:
    device: DeviceConfig = field(default_factory=DeviceConfig)
    input: InputConfig = field(default_factory=InputConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    web: WebConfig = field(default_factory=WebConfig)
    source: str = "defaults"  # where it came from, for messages

    @property
    def data_dir(self) -> Path:
        return Path(self.device.data_dir).expanduser()

    def bundle_path(self) -> Path | None:
        """device.bundle, else the bundle flashed into <data_dir>/bundles/current, else None (built-in)."""
        if self.device.bundle:
            return Path(self.device.bundle).expanduser()
        flashed = self.data_dir / "bundles" / "current"
        return flashed if flashed.exists() else None

    def repertoire_dir(self) -> Path:
        return Path(self.device.repertoire).expanduser() if self.device.repertoire else self.data_dir / "repertoire"

    def history_path(self) -> Path:
        return Path(self.history.path).expanduser() if self.history.path else self.data_dir / "history.sqlite"

    def recordings_dir(self) -> Path:
        dir_ = self.history.recordings_dir
        return Path(dir_).expanduser() if dir_ else self.data_dir / "recordings"

    def image_dir(self) -> Path:
        return Path(self.display.image_dir).expanduser() if self.display.image_dir else self.data_dir / "frames"

    def speech_dir(self) -> Path:
        return Path(self.speech.file_dir).expanduser() if self.speech.file_dir else self.data_dir / "speech"

    def with_overrides(self, overrides: dict[str, Any] | list[str]) -> "Config":
        """A copy with ``{"section.key": value}`` (or ``["section.key=value", ...]``) applied and checked."""
        items = parse_assignments(overrides) if isinstance(overrides, list) else overrides
        sections = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "source"}
        changed: dict[str, dict[str, Any]] = {}
        for dotted, value in items.items():
            section, _, key = dotted.partition(".")
            if section not in sections or not key:
                raise ConfigError(f"--set {dotted}: unknown setting (sections: {', '.join(sections)})")
            changed.setdefault(section, {})[key] = value
        for section, values in changed.items():
            sections[section] = fill_dataclass(
                type(sections[section]), values, f"--set {section}", sections[section], error=ConfigError
            )
        return Config(**sections, source=self.source)


SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "source"}


def load_config(path: str | Path | None) -> Config:
    """Read a TOML file (None: the built-in defaults). Every key is optional; unknown ones are errors."""
    if path is None:
        return Config()
    path = Path(path)
    return fill_tables(Config, read_toml(path, ConfigError, "configuration file"), path, ConfigError, source=str(path))


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["display.kind=image", "input.silence_stop_s=4"]`` -> values typed as TOML would read them
    (also the host's ``llm finetune --set``)."""
    parsed = {}
    for item in items:
        dotted, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item}: expected section.key=value")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word is a string: --set display.kind=image
        parsed[dotted.strip()] = value
    return parsed


# The command line's view of the configuration: every appliance command takes these flags.
def add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help="the TOML configuration (default: built-in defaults; the service uses /etc/pianocoach/config.toml)",
    )
    parser.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override one setting (repeatable)")
    parser.add_argument("--data-dir", help="override device.data_dir")


def config_from_args(args: argparse.Namespace) -> Config:
    """The configuration the flags name, with the flags' overrides applied (checked like the file)."""
    config = load_config(args.config)
    overrides = list(args.set or [])
    if getattr(args, "input", None):
        overrides += ["input.source=file", f"input.file={json.dumps(str(args.input))}"]
    for flag, key in (
        ("display", "display.kind"),
        ("data_dir", "device.data_dir"),
        ("bundle", "device.bundle"),
        ("language", "device.language"),
    ):
        value = getattr(args, flag, None)
        if value:
            overrides.append(f"{key}={json.dumps(str(value))}")
    return config.with_overrides(overrides) if overrides else config
