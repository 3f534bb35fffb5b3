"""A tiny Llama-style model and tokenizer built here, from nothing downloaded: the tests and
``make bench-llm`` run the whole fine-tune -> GGUF -> llama.cpp chain on it.

The tokenizer is a SentencePiece BPE model with byte fallback (any UTF-8 text, Korean and Chinese
included, encodes), trained on the instruction data's own text; llama.cpp's converter reads it as a
Llama-2 vocabulary (it rejects a locally trained GPT-2-style tokenizer). The model has hidden size 256
and a 512-wide MLP, so every weight row is a multiple of 256 and Q4_K_M is a real K-quant (a hidden size
of 64 would silently fall back to Q5_0/Q8_0). Its weights are random unless it is trained.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

# The chat template of the tiny model (a real base model keeps its own). It travels into the GGUF as
# tokenizer.chat_template, and llama-cpp-python formats chat messages with it.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}### Input:\n{{ m['content'] }}\n"
    "{% else %}### Response:\n{{ m['content'] }}{{ eos_token }}\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}### Response:\n{% endif %}"
)
DEFAULT_TEXT = (
    "A convincing performance. Steady the pulse with a metronome. Clear the pedal with each new harmony.",
    "很有说服力的演奏。稳住节拍。踏板要更干净。",
    "템포가 너무 느려집니다. 페달의 울림이 조금 덜하면 더 좋았을 것 같습니다.",
)


def train_tokenizer(texts: Iterable[str], out_dir: Path, vocab_size: int = 2000) -> Path:
    """A byte-fallback BPE SentencePiece model at ``out_dir/tokenizer.model``."""
    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [line for text in texts for line in text.splitlines() if line.strip()] or list(DEFAULT_TEXT)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(out_dir / "tokenizer"),
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=0.995,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
        num_threads=1,
    )
    (out_dir / "tokenizer.vocab").unlink(missing_ok=True)
    return out_dir / "tokenizer.model"


def build_tiny_model(
    out_dir: str | Path, texts: Iterable[str] = DEFAULT_TEXT, vocab_size: int = 2000, layers: int = 2, seed: int = 0
) -> Path:
    """Write a Hugging Face model folder (config, safetensors, tokenizer with chat template)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    out_dir = Path(out_dir)
    spm_dir = out_dir / "spm"
    model_file = train_tokenizer(texts, spm_dir, vocab_size)
    tokenizer = LlamaTokenizer.from_pretrained(str(spm_dir))
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # transformers 5 saves tokenizer.json only; llama.cpp's converter wants the SentencePiece file
    shutil.copyfile(model_file, out_dir / "tokenizer.model")
    shutil.rmtree(spm_dir)
    log.info(
        "tiny model (%d parameters, vocabulary %d) in %s",
        sum(p.numel() for p in model.parameters()),
        len(tokenizer),
        out_dir,
    )
    return out_dir
