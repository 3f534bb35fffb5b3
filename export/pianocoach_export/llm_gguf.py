"""The feedback model from Hugging Face folder to quantized GGUF: convert with llama.cpp's own script,
quantize with ``llama_cpp.llama_model_quantize``, and check the quantized model's greedy answers
against the float model's on fixed prompts.

``convert_hf_to_gguf.py`` is not installed by any package: it is in the llama-cpp-python source
distribution (``vendor/llama.cpp/``, with the ``gguf-py`` and ``conversion`` packages it imports), which
``make setup`` downloads and builds from anyway; setup keeps it unpacked under ``.cache/llm/``. Point
``$PIANOCOACH_LLAMA_CPP_SRC`` at another ``llama.cpp`` checkout to use that one.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pianocoach.errors import PianoCoachError
from pianocoach.feedback.prompt import FeedbackRequest, prompt_messages
from pianocoach.rating_scales import SCALE_NAMES, overall_mark
from pianocoach_train.paths import REPO_ROOT

log = logging.getLogger(__name__)

LLAMA_SRC_ENV = "PIANOCOACH_LLAMA_CPP_SRC"
CONVERTER = "convert_hf_to_gguf.py"
# the quantization types offered, as llama.cpp's file types (K-quants need weight rows that are
# multiples of 256 values; narrower tensors fall back to Q5_0/Q8_0 silently)
QUANT_TYPES = {
    "Q4_K_M": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "Q5_K_M": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
}


class GGUFExportError(PianoCoachError):
    """A conversion or quantization step failed; the message says which and why."""


def converter_script() -> Path:
    candidates = []
    if os.environ.get(LLAMA_SRC_ENV):
        candidates.append(Path(os.environ[LLAMA_SRC_ENV]) / CONVERTER)
    candidates += sorted(
        (REPO_ROOT / ".cache" / "llm").glob(f"llama_cpp_python-*/vendor/llama.cpp/{CONVERTER}"), reverse=True
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise GGUFExportError(
        f"{CONVERTER} not found (looked in ${LLAMA_SRC_ENV} and .cache/llm/): run `make setup`, which "
        "unpacks it from the llama-cpp-python source distribution"
    )


def convert_to_gguf(model_dir: Path, out_file: Path, outtype: str = "f16") -> Path:
    """A Hugging Face causal-LM folder -> one GGUF file (``f16``, ``f32`` or ``q8_0``), written to a
    temporary name first."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.name}.tmp")
    command = [sys.executable, str(converter_script()), str(model_dir), "--outfile", str(tmp), "--outtype", outtype]
    log.info("converting %s to GGUF (%s)", model_dir, outtype)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise GGUFExportError(f"{model_dir}: conversion to GGUF failed ({tail})")
    tmp.replace(out_file)
    return out_file


def quantize(source: Path, out_file: Path, kind: str = "Q4_K_M", threads: int = 0) -> Path:
    import llama_cpp

    if kind not in QUANT_TYPES:
        raise GGUFExportError(f"unknown quantization {kind!r} (choose from {', '.join(QUANT_TYPES)})")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[kind])
    params.nthread = threads
    tmp = out_file.with_name(f".{out_file.name}.tmp")
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise GGUFExportError(f"{source}: llama_model_quantize to {kind} failed (return code {rc})")
    tmp.replace(out_file)
    return out_file


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each type a GGUF holds (proves a K-quant is really a K-quant)."""
    import gguf

    return dict(Counter(t.tensor_type.name for t in gguf.GGUFReader(str(path)).tensors))


def parity_prompts() -> list[list[dict[str, str]]]:
    """Fixed feedback prompts: a weak, a middling and a strong performance, in English and Chinese."""
    measures = {
        "tempo_variation_pct": {"value": 14.0, "unit": "%", "label_en": "tempo variation", "label_zh": "速度波动"},
        "pedal_down_pct": {"value": 62.0, "unit": "%", "label_en": "pedal down", "label_zh": "踏板踩下"},
    }
    prompts = []
    for level in (2.5 / 7, 4 / 7, 5.5 / 7):
        values = dict.fromkeys(SCALE_NAMES, level)
        for language in ("en", "zh"):
            prompts.append(prompt_messages(FeedbackRequest(values, overall_mark(values), measures, language, 40)))
    return prompts


@dataclass
class Parity:
    prompts: int
    exact: int  # answers identical token for token
    mean_agreement: float  # mean over prompts of (common token prefix) / (longer answer)
    first_token: int  # prompts whose first answer token is the same
    samples: list[dict]

    def to_dict(self) -> dict:
        return {
            "prompts": self.prompts,
            "exact": self.exact,
            "first_token": self.first_token,
            "mean_agreement": round(self.mean_agreement, 4),
            "samples": self.samples,
        }


def greedy_tokens(
    model_path: Path, prompts: list[list[dict[str, str]]], max_tokens: int, threads: int = 2
) -> list[list[int]]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), n_threads=threads, n_ctx=1024, seed=0, verbose=False)
    out = []
    for messages in prompts:
        answer = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0, top_k=1)
        out.append(
            llm.tokenize(answer["choices"][0]["message"]["content"].encode("utf-8"), add_bos=False, special=True)
        )
    return out


def greedy_parity(float_model: Path, quantized: Path, max_tokens: int = 24) -> Parity:
    prompts = parity_prompts()
    reference = greedy_tokens(float_model, prompts, max_tokens)
    candidate = greedy_tokens(quantized, prompts, max_tokens)
    agreements, samples = [], []
    for a, b in zip(reference, candidate):
        common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        agreements.append(common / max(len(a), len(b), 1))
        samples.append({"float_tokens": len(a), "quantized_tokens": len(b), "common_prefix": common})
    return Parity(
        len(prompts),
        sum(a == b for a, b in zip(reference, candidate)),
        sum(agreements) / len(agreements),
        sum(bool(a) and bool(b) and a[0] == b[0] for a, b in zip(reference, candidate)),
        samples,
    )
