"""The language model's fine-tuning configuration: one TOML file with the base model, the data, LoRA, quantization and
training arguments. Presets live in ``host_training/llm_configs/`` (``pi-0.5b.toml``: a Pi-sized
model; ``gpu24-8b.toml``: a large model on one 24 GB GPU; ``tiny.toml``: the local test model).
Relative paths are read from the repository root.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from pianocoach.toml_config import TYPE_WORDS, ConfigFileError, fill_tables, read_toml
from pianocoach_train.paths import REPO_ROOT

PRESETS_DIR = REPO_ROOT / "host_training" / "llm_configs"
# "[training] epochs must be float, not 'two'": the type names these messages have always used
TYPE_NAMES = {**TYPE_WORDS, bool: "bool", int: "int", float: "float", str: "str"}


class FinetuneConfigError(ConfigFileError):
    """The fine-tuning config file is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class ModelSection:
    base: str = ""  # a local Hugging Face model folder (never downloaded)
    chat_template: str = ""  # a Jinja file to use instead of the base tokenizer's (a base model without one)


@dataclass(frozen=True)
class DataSection:
    train: str = "artifacts/llm/data/train.jsonl"
    validation: str = "artifacts/llm/data/validation.jsonl"
    sources: tuple[str, ...] = ("percepiano_comment", "percepiano_template", "jianzipu", "musicpile")
    max_length: int = 768  # tokens; longer records are cut from the end
    max_records: int = 0  # 0: all (a smoke run takes a few)


@dataclass(frozen=True)
class LoraSection:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class QuantizationSection:
    load_in_4bit: bool = True  # QLoRA: the frozen base in 4-bit NF4 (bitsandbytes)
    quant_type: str = "nf4"
    double_quant: bool = True
    compute_dtype: str = "bfloat16"  # on CPU float32 is used whatever this says


@dataclass(frozen=True)
class TrainingSection:
    output_dir: str = "artifacts/llm/run"
    epochs: float = 2.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4
    gradient_accumulation: int = 8
    learning_rate: float = 2e-4
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    gradient_checkpointing: bool = True
    optim: str = "paged_adamw_8bit"  # bitsandbytes' paged 8-bit AdamW (on CPU bitsandbytes pages nothing: plain 8-bit)
    logging_steps: int = 10
    eval_steps: int = 200
    seed: int = 0


@dataclass(frozen=True)
class EvaluationSection:
    generations: int = 3  # validation prompts answered after training (greedy)
    max_new_tokens: int = 80


@dataclass(frozen=True)
class FinetuneConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    lora: LoraSection = field(default_factory=LoraSection)
    quantization: QuantizationSection = field(default_factory=QuantizationSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    source: str = "defaults"

    def path(self, value: str) -> Path:
        """A path from the config: ~ expanded, relative ones from the repository root."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else REPO_ROOT / p

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "source"}


def load_finetune_config(path: str | Path, overrides: dict[str, object] | None = None) -> FinetuneConfig:
    """Read the TOML file; ``overrides`` ``{"section.key": value}`` (the CLI's --set) win."""
    path = Path(path)
    data = read_toml(path, FinetuneConfigError, f"fine-tuning config (presets: {PRESETS_DIR})")
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        data.setdefault(section, {})[key] = value
    config = fill_tables(FinetuneConfig, data, path, FinetuneConfigError, TYPE_NAMES, source=str(path))
    if not config.model.base:
        raise FinetuneConfigError(f"{path}: [model] base is empty: give the local folder of the base model")
    return config
