"""Fine-tuning the feedback model with LoRA (QLoRA on a GPU): transformers + peft + bitsandbytes.

QLoRA as the product's design has it: the frozen base loaded in 4-bit NF4 (double quantization),
LoRA adapters on the attention and MLP projections, gradient checkpointing, paged 8-bit AdamW,
small batches with gradient accumulation. The same code runs on CPU (bitsandbytes 0.50 has 4-bit CPU
kernels), which is how the tests run two steps on the tiny model, and under ``accelerate launch`` on
several GPUs (each process puts its copy of the base on its own GPU; the Trainer does the rest).

A run writes into ``training.output_dir``: ``adapter/`` (the LoRA weights), ``merged/`` (the base with
the adapter merged in, in float: what export turns into GGUF), ``evaluation.json`` (validation loss,
a few greedy generations) and ``finetune_config.json`` (the config it ran with).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pianocoach.jsonio import write_json_atomic
from pianocoach_train.llm.finetune_config import FinetuneConfig, FinetuneConfigError
from pianocoach_train.llm.records import Record, read_records

log = logging.getLogger(__name__)

IGNORE = -100  # label value the loss skips (the prompt part of a chat record, padding)


@dataclass
class FinetuneResult:
    output_dir: Path
    adapter_dir: Path
    merged_dir: Path
    evaluation: dict


def load_tokenizer(config: FinetuneConfig):
    from transformers import AutoTokenizer

    base = config.path(config.model.base)
    if not (base / "config.json").is_file():
        raise FinetuneConfigError(
            f"{base}: not a local Hugging Face model folder (no config.json); models are never downloaded"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    if config.model.chat_template:
        tokenizer.chat_template = config.path(config.model.chat_template).read_text(encoding="utf-8")
    if not tokenizer.chat_template:
        raise FinetuneConfigError(
            f"{base}: the tokenizer has no chat template; set [model] chat_template to a Jinja file"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def encode(record: Record, tokenizer, max_length: int) -> dict[str, list[int]]:
    """input_ids and labels: a chat record is trained on its last (assistant) turn only, a text record
    on every token."""
    if record.text:
        ids = tokenizer(record.text + (tokenizer.eos_token or ""), add_special_tokens=True)["input_ids"][:max_length]
        return {"input_ids": ids, "labels": list(ids)}
    prompt = tokenizer.apply_chat_template(record.messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(record.messages, tokenize=False)
    if not full.startswith(prompt):
        raise FinetuneConfigError(
            f"record {record.id}: the chat template renders the prompt differently inside the full chat"
        )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": ids, "labels": labels}


class EncodedRecords:
    """A torch-style dataset of encoded records (records whose answer was cut away entirely are left out)."""

    def __init__(self, records: list[Record], tokenizer, max_length: int) -> None:
        encoded = [encode(r, tokenizer, max_length) for r in records]
        self.items = [e for e in encoded if any(label != IGNORE for label in e["labels"])]
        if len(self.items) < len(encoded):
            log.warning(
                "%d records longer than %d tokens lost their answer and were left out",
                len(encoded) - len(self.items),
                max_length,
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.items[index]


def collate(pad_id: int):
    import torch

    def pad(batch: list[dict[str, list[int]]]) -> dict:
        width = max(len(item["input_ids"]) for item in batch)
        ids = [item["input_ids"] + [pad_id] * (width - len(item["input_ids"])) for item in batch]
        labels = [item["labels"] + [IGNORE] * (width - len(item["labels"])) for item in batch]
        mask = [[1] * len(item["input_ids"]) + [0] * (width - len(item["input_ids"])) for item in batch]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}

    return pad


def select(records: list[Record], config: FinetuneConfig) -> list[Record]:
    chosen = [r for r in records if r.source in config.data.sources]
    return chosen[: config.data.max_records] if config.data.max_records else chosen


def load_base_for_training(config: FinetuneConfig):
    """The base model, 4-bit NF4 when configured, with LoRA adapters attached; returns (model, on_cuda)."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    cuda = torch.cuda.is_available()
    q = config.quantization
    dtype = getattr(torch, q.compute_dtype) if cuda else torch.float32
    kwargs: dict = {"dtype": dtype, "local_files_only": True}
    if cuda:
        from accelerate import PartialState

        kwargs["device_map"] = {"": PartialState().process_index}  # one whole copy per process (accelerate launch)
    else:
        kwargs["device_map"] = {"": "cpu"}
    if q.load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=q.quant_type,
            bnb_4bit_use_double_quant=q.double_quant,
            bnb_4bit_compute_dtype=dtype,
        )
    model = AutoModelForCausalLM.from_pretrained(str(config.path(config.model.base)), **kwargs)
    if q.load_in_4bit:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.training.gradient_checkpointing
        )
    elif config.training.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    lora = config.lora
    model = get_peft_model(
        model,
        LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        ),
    )
    return model, cuda


def finetune(config: FinetuneConfig, progress: bool = True) -> FinetuneResult:
    from transformers import Trainer, TrainingArguments, set_seed

    t = config.training
    set_seed(t.seed)
    out = config.path(t.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "finetune_config.json", {"source": config.source, **config.to_dict()})
    tokenizer = load_tokenizer(config)
    train_records = select(read_records(config.path(config.data.train)), config)
    validation_records = select(read_records(config.path(config.data.validation)), config)
    if not train_records:
        raise FinetuneConfigError(
            f"{config.data.train}: no training records from the sources {', '.join(config.data.sources)}"
        )
    train_set = EncodedRecords(train_records, tokenizer, config.data.max_length)
    validation_set = EncodedRecords(validation_records, tokenizer, config.data.max_length)
    model, cuda = load_base_for_training(config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info(
        "training %d LoRA parameters on %d records (%d validation)", trainable, len(train_set), len(validation_set)
    )
    bf16 = cuda and config.quantization.compute_dtype == "bfloat16"
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation,
        learning_rate=t.learning_rate,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float below 1 is the warm-up ratio (warmup_ratio is gone)
        weight_decay=t.weight_decay,
        optim=t.optim,
        gradient_checkpointing=t.gradient_checkpointing,
        logging_steps=t.logging_steps,
        eval_strategy="steps" if len(validation_set) else "no",
        eval_steps=t.eval_steps,
        save_strategy="no",
        report_to=[],
        seed=t.seed,
        bf16=bf16,
        use_cpu=not cuda,
        disable_tqdm=not progress,
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=validation_set or None,
        data_collator=collate(tokenizer.pad_token_id),
    )
    started = time.perf_counter()
    outcome = trainer.train()
    seconds = time.perf_counter() - started
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # save_strategy "no": only the Trainer's empty folder
    validation_loss = trainer.evaluate()["eval_loss"] if len(validation_set) else None
    if not trainer.is_world_process_zero():
        return FinetuneResult(out, out / "adapter", out / "merged", {})

    def save_adapter(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    adapter_dir = _replace_dir(out / "adapter", save_adapter)
    trainer = model = None  # frees the 4-bit base before merge_adapter loads the float one
    merged_dir = merge_adapter(config, adapter_dir, out / "merged")
    evaluation = {
        "steps": outcome.global_step,
        "train_loss": round(float(outcome.training_loss), 4),
        "validation_loss": None if validation_loss is None else round(float(validation_loss), 4),
        "train_records": len(train_set),
        "validation_records": len(validation_set),
        "seconds": round(seconds, 1),
        "trainable_parameters": trainable,
        "device": "cuda" if cuda else "cpu",
        "quantized_base": config.quantization.load_in_4bit,
        "generations": generate_samples(
            merged_dir, validation_records, config.evaluation.generations, config.evaluation.max_new_tokens
        ),
    }
    write_json_atomic(out / "evaluation.json", evaluation)
    return FinetuneResult(out, adapter_dir, merged_dir, evaluation)


def merge_adapter(config: FinetuneConfig, adapter_dir: Path, out_dir: Path) -> Path:
    """The base reloaded in float (not 4-bit: merging into NF4 weights would round the adapter away)
    with the adapter merged in; saved with the tokenizer (and its SentencePiece file, which llama.cpp's
    converter reads)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = config.path(config.model.base)
    dtype = torch.float16 if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=dtype, local_files_only=True, device_map={"": "cpu"})
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    tokenizer = load_tokenizer(config)

    def save(tmp: Path) -> None:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if (base / "tokenizer.model").is_file():
            shutil.copyfile(base / "tokenizer.model", tmp / "tokenizer.model")

    return _replace_dir(out_dir, save)


def generate_samples(model_dir: Path, records: list[Record], count: int, max_new_tokens: int) -> list[dict]:
    """Greedy answers of the merged model to the first ``count`` validation chat prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    chats = [r for r in records if r.messages][:count]
    if not chats:
        return []
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True, device_map={"": "cpu"})
    samples = []
    for record in chats:
        prompt = tokenizer.apply_chat_template(record.messages[:-1], tokenize=False, add_generation_prompt=True)
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(
                **ids,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        answer = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        samples.append(
            {"id": record.id, "source": record.source, "reference": record.messages[-1]["content"], "generated": answer}
        )
    return samples


def _replace_dir(target: Path, write) -> Path:
    """Write a folder beside ``target`` and swap it in: a failed save leaves the previous one whole."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def describe(result: FinetuneResult) -> str:
    e = result.evaluation
    return (
        f"fine-tuned {e['steps']} steps on {e['train_records']} records ({e['device']}, "
        f"{'4-bit base' if e['quantized_base'] else 'float base'}): train loss {e['train_loss']}, "
        f"validation loss {e['validation_loss']}; adapter {result.adapter_dir}, merged model {result.merged_dir}\n"
        + json.dumps(e["generations"][:1], ensure_ascii=False)[:400]
    )
