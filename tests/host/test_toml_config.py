"""The one TOML-to-dataclass loader (pianocoach.toml_config) and the three files read through it: the
appliance's config.toml, the fine-tuning config and the flashing inventory. Every problem is one line
naming the file and the key."""

from dataclasses import dataclass, field

import pytest

from pianocoach.appliance.config import ConfigError, load_config
from pianocoach.errors import PianoCoachError
from pianocoach.toml_config import ConfigFileError, fill_dataclass, fill_tables, read_toml
from pianocoach_export.flash import FlashError, read_inventory
from pianocoach_train.llm.finetune_config import FinetuneConfigError, load_finetune_config


@dataclass(frozen=True)
class Voice:
    name: str = "en"
    rate: int = 160
    pitch: float = 1.0
    loud: bool = False
    tags: tuple[str, ...] = ()

    CHOICES = {"name": ("en", "zh")}
    RANGES = {"rate": (60, 450)}


@dataclass(frozen=True)
class Settings:
    voice: Voice = field(default_factory=Voice)
    source: str = "defaults"


def load(path):
    return fill_tables(Settings, read_toml(path), path, source=str(path))


def refused(path, text, error=ConfigFileError, loader=load) -> str:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(error) as caught:
        loader(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    assert isinstance(caught.value, PianoCoachError)
    return message


def test_a_table_fills_its_dataclass_with_typed_values(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[voice]\nname = "zh"\nrate = 200\npitch = 2\ntags = ["a", "b"]\nloud = true\n')
    settings = load(path)
    assert settings == Settings(Voice("zh", 200, 2.0, True, ("a", "b")), source=str(path))
    assert isinstance(settings.voice.pitch, float)  # an int is accepted for a float, and made one


@pytest.mark.parametrize(
    "text, message",
    [
        ("[voice\n", "not valid TOML"),
        ("[voice]\nspeed = 1\n", "[voice] unknown key 'speed' (known: loud, name, pitch, rate, tags)"),
        ("[voice]\nrate = 'fast'\n", "[voice] rate must be a whole number, not 'fast'"),
        ("[voice]\nrate = true\n", "[voice] rate must be a whole number, not True"),
        ("[voice]\npitch = 'high'\n", "[voice] pitch must be a number, not 'high'"),
        ("[voice]\nloud = 1\n", "[voice] loud must be true or false, not 1"),
        ("[voice]\ntags = [1]\n", "[voice] tags must be a list of strings, not [1]"),
        ("[voice]\nname = 'fr'\n", "[voice] name must be one of en, zh, not 'fr'"),
        ("[voice]\nrate = 10\n", "[voice] rate must be between 60 and 450, not 10"),
        ("[speech]\nrate = 1\n", "unknown section [speech] (known: voice)"),
        ("voice = 3\n", "voice must be a [section] of keys"),
    ],
)
def test_bad_toml_an_unknown_key_or_a_wrong_type_is_one_line_naming_file_and_key(tmp_path, text, message):
    assert message in refused(tmp_path / "s.toml", text)


def test_a_missing_or_undecodable_file_is_one_line(tmp_path):
    with pytest.raises(ConfigFileError, match=r"nothing\.toml: no such settings file$"):
        read_toml(tmp_path / "nothing.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[voice]\n")
    with pytest.raises(ConfigFileError, match="bin.toml: not valid TOML"):
        read_toml(tmp_path / "bin.toml")


def test_the_caller_chooses_the_exception_and_a_base_to_override():
    with pytest.raises(ConfigError, match=r"^--set voice unknown key 'x'"):
        fill_dataclass(Voice, {"x": 1}, "--set voice", Voice(), error=ConfigError)
    assert fill_dataclass(Voice, {"rate": 90}, "--set voice", Voice("zh")) == Voice("zh", 90)


def test_a_required_field_left_out_is_named():
    @dataclass(frozen=True)
    class Host:
        host: str
        port: int = 22

    with pytest.raises(ConfigFileError, match=r"^inv.toml: device 1: missing key 'host'$"):
        fill_dataclass(Host, {"port": 2}, "inv.toml: device 1:")


# -- the three files read through it keep their messages ------------------------------------------------------
def test_the_appliance_config_messages(tmp_path):
    assert "[display] unknown key 'kindd'" in refused(
        tmp_path / "c.toml", "[display]\nkindd = 1\n", ConfigError, load_config
    )
    assert "[input] realtime must be true or false, not 1" in refused(
        tmp_path / "c.toml", "[input]\nrealtime = 1\n", ConfigError, load_config
    )
    assert "not valid TOML" in refused(tmp_path / "c.toml", "[display\n", ConfigError, load_config)


def test_the_finetune_config_messages(tmp_path):
    assert "[training] epochs must be float, not 'two'" in refused(
        tmp_path / "f.toml",
        "[model]\nbase = 'x'\n[training]\nepochs = 'two'\n",
        FinetuneConfigError,
        load_finetune_config,
    )
    assert "[lora] unknown key 'rank'" in refused(
        tmp_path / "f.toml", "[model]\nbase = 'x'\n[lora]\nrank = 4\n", FinetuneConfigError, load_finetune_config
    )
    assert "[data] sources must be a list of strings" in refused(
        tmp_path / "f.toml",
        "[model]\nbase = 'x'\n[data]\nsources = 'musicpile'\n",
        FinetuneConfigError,
        load_finetune_config,
    )
    path = tmp_path / "ok.toml"
    path.write_text("[model]\nbase = 'x'\n[training]\nepochs = 3\n[data]\nsources = ['jianzipu']\n")
    config = load_finetune_config(path, {"lora.r": 8})
    assert (config.training.epochs, config.data.sources, config.lora.r) == (3.0, ("jianzipu",), 8)
    with pytest.raises(FinetuneConfigError, match="no such fine-tuning config"):
        load_finetune_config(tmp_path / "missing.toml")


def test_the_inventory_messages(tmp_path):
    assert "not valid TOML" in refused(tmp_path / "d.toml", "[[device]\n", FlashError, read_inventory)
    assert "device 1: unknown keys colour" in refused(
        tmp_path / "d.toml", '[[device]]\nhost = "pi@a"\ncolour = 1\n', FlashError, read_inventory
    )
    assert "device 1: port must be a whole number, not '22'" in refused(
        tmp_path / "d.toml", '[[device]]\nhost = "pi@a"\nport = "22"\n', FlashError, read_inventory
    )
    path = tmp_path / "ok.toml"
    path.write_text('[defaults]\nport = 2222\n[[device]]\nname = "a"\nhost = "pi@a"\nssh_options = ["BatchMode=yes"]\n')
    [device] = read_inventory(path)
    assert (device.host, device.port, device.ssh_options) == ("pi@a", 2222, ("BatchMode=yes",))
    with pytest.raises(FlashError, match="no such inventory file"):
        read_inventory(tmp_path / "missing.toml")
