"""The configuration (TOML -> typed settings, errors that name the key), the firmware_config files, and
the screens as drawn at 128x64 in English and Chinese."""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pianocoach.appliance import screens
from pianocoach.appliance.config import Config, ConfigError, load_config
from pianocoach.appliance.display import ImageDisplay, Layout, find_font, open_display

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware_config"


def test_the_documented_default_toml_loads_and_matches_the_built_in_defaults():
    config = load_config(FIRMWARE / "config.toml")
    assert config == Config(source=config.source)
    assert config.display.kind == "ssd1306" and config.display.i2c_address == 0x3C
    assert config.history_path() == Path("/var/lib/pianocoach/history.sqlite")


@pytest.mark.parametrize(
    "text, message",
    [
        ("[display]\nkindd = 'image'\n", "[display] unknown key 'kindd'"),
        (
            "[display]\nkind = 'crt'\n",
            "[display] kind must be one of ssd1306, st7735, ili9341, image, terminal, not 'crt'",
        ),
        ("[input]\nsilence_stop_s = 'long'\n", "[input] silence_stop_s must be a number, not 'long'"),
        ("[button]\npin = 40\n", "[button] pin must be between 0 and 27, not 40"),
        ("[input]\nrealtime = 1\n", "[input] realtime must be true or false, not 1"),
        ("[speaker]\nrate = 1\n", "unknown section [speaker]"),
        ("[display\n", "not valid TOML"),
    ],
)
def test_a_bad_key_or_value_stops_with_a_message_naming_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_overrides_are_typed_and_checked_like_the_file():
    config = Config().with_overrides(
        ["display.kind=image", "input.silence_stop_s=4", "input.realtime=false", 'device.data_dir="/tmp/pc"']
    )
    assert (config.display.kind, config.input.silence_stop_s, config.input.realtime) == ("image", 4.0, False)
    assert config.image_dir() == Path("/tmp/pc/frames")
    with pytest.raises(ConfigError, match="--set button pin must be a whole number"):
        Config().with_overrides(["button.pin=seventeen"])
    with pytest.raises(ConfigError, match="--set nothing.key: unknown setting"):
        Config().with_overrides(["nothing.key=1"])


def test_the_run_command_refuses_a_bad_config_in_one_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[display]\nkind = 'crt'\n")
    run = subprocess.run(
        [sys.executable, "-m", "pianocoach.cli", "run", "--config", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith(f"pianocoach: error: {path}: [display] kind must be one of")


def test_the_systemd_unit_parses_and_runs_as_a_non_root_user_that_restarts():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(FIRMWARE / "pianocoach.service")
    service = unit["Service"]
    assert service["Restart"] == "always" and service["User"] not in ("root", "0")
    assert set(service["SupplementaryGroups"].split()) >= {"audio", "gpio", "i2c", "spi"}
    assert service["StandardOutput"] == "journal" and "pianocoach run --config" in service["ExecStart"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    # the unit's ExecStart lives on the Pi; point it at this environment's command so verify can check it
    text = (FIRMWARE / "pianocoach.service").read_text()
    local = Path(sys.executable).parent / "pianocoach"
    (tmp_path / "pianocoach.service").write_text(text.replace("/opt/pianocoach/venv/bin/pianocoach", str(local)))
    run = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "pianocoach.service")], capture_output=True, text=True
    )
    complaints = [line for line in (run.stdout + run.stderr).splitlines() if "pianocoach.service" in line]
    assert run.returncode == 0 and not complaints, complaints


def test_the_install_script_is_valid_bash_and_names_what_the_issue_asks_for():
    script = FIRMWARE / "install.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    for needed in (
        "apt-get install -y --no-install-recommends",
        "espeak-ng",
        "python3 -m venv",
        "device[pi]",
        "llama-cpp-python",
        "systemctl enable --now pianocoach.service",
        "bundles/current",
    ):
        assert needed in text
    help_text = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True).stdout
    assert "--with-llm" in help_text


def test_config_txt_has_the_overlays_for_microphone_displays_and_button():
    text = (FIRMWARE / "config.txt").read_text()
    for line in ("dtparam=i2s=on", "dtparam=i2c_arm=on", "dtparam=spi=on", "gpio=17=ip,pu"):
        assert line in text.splitlines()


def ink(image: Image.Image) -> int:
    return int((np.asarray(image.convert("L")) > 0).sum())


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_line_fits_a_128x64_screen(language):
    assert find_font(language) is not None  # DejaVu Sans / AR PL UMing from the Debian packages
    layout = Layout(128, 64, "1", language)
    text = screens.WORDS[language]["scoring_line"] * 6
    lines = layout.wrap(text)
    assert len(lines) > 1 and all(layout.fonts.text.getlength(line) <= 128 - 2 * layout.pad for line in lines)
    image = layout.draw(screens.message_screen(language, text, layout.capacity))
    assert image.size == (128, 64) and image.mode == "1" and ink(image) > 200
    assert layout.capacity.bars >= 2 and layout.capacity.lines >= 3


def test_chinese_text_draws_glyphs_not_boxes():
    layout = Layout(128, 64, "1", "zh")
    one = layout.draw(screens.Screen("message", "评分中", ("音色",)))
    other = layout.draw(screens.Screen("message", "评分中", ("节奏",)))
    assert ink(one) != ink(other)  # two different characters, two different shapes


def test_the_image_display_goes_through_luma_and_writes_png_frames(tmp_path):
    display = ImageDisplay(tmp_path, 160, 128, "RGB", "en")
    display.show(screens.idle_screen("en", 61.0, 120.0))
    (png,) = tmp_path.glob("*.png")
    assert png.name == "0000-idle.png" and Image.open(png).size == (160, 128)
    assert type(display.device).__module__ == "luma.core.device"
    assert "Last: 61/100 (2 min ago)" in (tmp_path / "frames.jsonl").read_text()


def test_an_spi_display_that_is_not_there_falls_back_to_the_terminal(tmp_path):
    config = Config().with_overrides(
        ["display.kind=st7735", "display.spi_port=7", "display.width=160", "display.height=128"]
    )
    display = open_display(config.display, "en", tmp_path)
    assert display.failed and "st7735" in display.failed
    assert type(display.display).__name__ == "TerminalDisplay"


def test_speaking_returns_at_once_and_the_worker_writes_the_wav(tmp_path):
    from pianocoach.appliance.speech import open_speaker

    config = Config().with_overrides(["speech.sink=file"])
    speaker = open_speaker(config.speech, tmp_path)
    try:
        speaker.say("Steady the pulse: your tempo varied by twelve percent. " * 8)
        assert not speaker.wait(0)  # say() came back while espeak-ng is still synthesizing
        assert speaker.wait(60) and speaker.spoken == 1
        (wav,) = tmp_path.glob("speech-*.wav")
        assert wav.stat().st_size > 100_000 and not list(tmp_path.glob("*.tmp"))
    finally:
        speaker.close()


def test_a_piper_voice_that_is_missing_falls_back_to_espeak(tmp_path, caplog):
    from pianocoach.appliance.speech import open_speaker

    config = Config().with_overrides(
        ["speech.engine=piper", f'speech.piper_voice="{tmp_path / "voice.onnx"}"', "speech.sink=file"]
    )
    speaker = open_speaker(config.speech, tmp_path)
    try:
        assert speaker.synthesizer.name == "espeak-ng"
        assert "voice.onnx: no such Piper voice file; using espeak-ng" in caplog.text
    finally:
        speaker.close()
