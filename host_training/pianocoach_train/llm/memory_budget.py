"""What the local feedback model costs in memory beside the PianoCoach daemon, per Raspberry Pi board.

Builds a GGUF with the exact architecture and tensor shapes of Qwen2.5-0.5B-Instruct (qwen2, 24 layers,
hidden 896, 14 heads / 2 KV heads, FFN 4864, vocabulary 151936, tied embeddings) with **random weights**
and the real Qwen2 tokenizer metadata (from llama.cpp's ``models/ggml-vocab-qwen2.gguf``), quantizes it
to Q4_K_M with ``llama_cpp.llama_model_quantize``, and measures in fresh subprocesses (one per case) the
resident memory (VmRSS, VmHWM from ``/proc/self/status``) of a Python process before loading, after
``Llama(..., n_threads=1, n_ctx=N)`` as the device's ``LocalBackend`` loads it, and after a 150-token
prompt and 32 generated tokens. The weights are random, so this measures memory, never quality; nothing
is downloaded. The figures are compared with file size + KV cache + llama.cpp's compute buffer (read from
llama.cpp's own log) and laid out as a budget for a Pi 4 1 GB, a Pi 4 2 GB and a Pi 5 4 GB.

``python -m pianocoach_train.llm.memory_budget [--out reports/llm] [--keep DIR] [--no-tiny]``
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pianocoach_train.paths import REPO_ROOT

log = logging.getLogger(__name__)

MIB = 1024 * 1024
CONTEXTS = (512, 1024, 2048)
PROMPT_TOKENS = 150
LONG_PROMPT_TOKENS = 512  # one full llama.cpp batch (n_batch 512): the most activation memory one step needs
GENERATE_TOKENS = 32
LLAMA_DIR = REPO_ROOT / ".cache" / "llm"
VOCAB_FILE = "vendor/llama.cpp/models/ggml-vocab-qwen2.gguf"
GGUF_PY = "vendor/llama.cpp/gguf-py"
# budget rows that are not measured here (MiB)
OS_MIB = 150  # assumption: Raspberry Pi OS Lite (Bookworm, systemd) after boot, no desktop
DAEMON_MIB = 190  # PianoCoach daemon without the language model: peak over `make soak` was 179-189 MB
BOARDS = {"Pi 4 1 GB": 1024, "Pi 4 2 GB": 2048, "Pi 5 4 GB": 4096}
# Published sizes of the real model's Q4_K_M file (bytes), as third parties list them; not checked here.
PUBLISHED = {
    "bartowski/Qwen2.5-0.5B-Instruct-GGUF, Qwen2.5-0.5B-Instruct-Q4_K_M.gguf": "397,808,192 bytes (the download "
    "size in a third-party on-device chat app's model table)",
    "Qwen/Qwen2.5-0.5B-Instruct-GGUF, qwen2.5-0.5b-instruct-q4_k_m.gguf": "468 MB, rounded (the pesti-gguf "
    "crate's README)",
}
PROMPT_TEXT = (
    "You are a piano teacher. Write two short sentences of feedback for a student. The performance: "
    "tempo variation 14 percent, pedal down 62 percent of the time, dynamics mostly mezzo forte with few "
    "contrasts, articulation a little heavy in the left hand, the melody clear but the phrasing short. "
    "Overall mark: 4 of 7. Mention what is good first, then one thing to practise, with a concrete "
    "exercise such as slow practice with a metronome or clearing the pedal at each change of harmony. "
)


@dataclass(frozen=True)
class Qwen2Shape:
    """The hyperparameters of Qwen2.5-0.5B-Instruct (its Hugging Face config.json)."""

    layers: int = 24
    hidden: int = 896
    heads: int = 14
    kv_heads: int = 2
    head_dim: int = 64
    ffn: int = 4864
    vocab: int = 151936
    rope_theta: float = 1e6
    rms_eps: float = 1e-6
    context: int = 32768


QWEN25_05B = Qwen2Shape()


def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, n_ctx: int, bytes_per_value: int = 2) -> int:
    """K and V for every layer and position (f16 by default, llama.cpp's default cache type)."""
    return 2 * layers * n_ctx * kv_heads * head_dim * bytes_per_value


# ---------------------------------------------------------------------------------------------- sources


def llama_sources(scratch: Path) -> tuple[Path, Path]:
    """(gguf-py folder, ggml-vocab-qwen2.gguf) from the unpacked llama-cpp-python source under
    ``.cache/llm/``, or extracted from its tarball into ``scratch`` when not unpacked."""
    unpacked = sorted(LLAMA_DIR.glob("llama_cpp_python-*/vendor"), reverse=True)
    roots = [p.parent for p in unpacked]
    gguf_py = next((r / GGUF_PY for r in roots if (r / GGUF_PY / "gguf").is_dir()), None)
    vocab = next((r / VOCAB_FILE for r in roots if (r / VOCAB_FILE).is_file()), None)
    if gguf_py and vocab:
        return gguf_py, vocab
    tarballs = sorted(LLAMA_DIR.glob("llama_cpp_python-*.tar.gz"), reverse=True)
    if not tarballs:
        raise FileNotFoundError(f"no llama-cpp-python source in {LLAMA_DIR} (run `make setup`)")
    top = tarballs[0].name.removesuffix(".tar.gz")
    wanted = ([] if vocab else [f"{top}/{VOCAB_FILE}"]) + ([] if gguf_py else [f"{top}/{GGUF_PY}/gguf/"])
    log.info("extracting %s from %s", ", ".join(wanted), tarballs[0].name)
    with tarfile.open(tarballs[0]) as tar:
        members = [m for m in tar.getmembers() if any(m.name == w or m.name.startswith(w) for w in wanted)]
        tar.extractall(scratch, members=members, filter="data")
    root = scratch / top
    return (gguf_py or root / GGUF_PY), (vocab or root / VOCAB_FILE)


def import_gguf(gguf_py: Path) -> Any:
    """llama.cpp's own gguf-py (the one vendored with the llama.cpp that llama-cpp-python was built from)."""
    if "gguf" not in sys.modules:
        sys.path.insert(0, str(gguf_py))
    import gguf

    log.info("gguf-py from %s", Path(gguf.__file__).parent)
    return gguf


# ---------------------------------------------------------------------------------------------- models


def write_random_qwen2(out: Path, vocab_file: Path, gguf: Any, shape: Qwen2Shape = QWEN25_05B, seed: int = 0) -> Path:
    """An F16 GGUF (norms and biases F32) with Qwen2.5-0.5B's tensors, random N(0, 0.02) weights and the
    Qwen2 tokenizer metadata. Tensors are streamed to disk one at a time."""
    import numpy as np

    vocab = gguf.GGUFReader(str(vocab_file))
    tokens = len(vocab.fields["tokenizer.ggml.tokens"].contents())
    if tokens != shape.vocab:
        raise ValueError(f"{vocab_file}: {tokens} tokens, the model has {shape.vocab}")
    writer = gguf.GGUFWriter(str(out), "qwen2")
    writer.add_name("Qwen2.5-0.5B-Instruct shape, random weights (memory budget only)")
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.hidden)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.rms_eps)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for key, field in vocab.fields.items():
        if key.startswith("tokenizer."):
            sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(key, field.contents(), field.types[0], sub_type)

    T, names = gguf.MODEL_TENSOR, gguf.TENSOR_NAMES
    q_out, kv_out = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    # (name, numpy shape (rows, columns)); 1-D tensors are F32, matrices F16; no output.weight (tied)
    specs: list[tuple[str, tuple[int, ...]]] = [(names[T.TOKEN_EMBD] + ".weight", (shape.vocab, shape.hidden))]
    for i in range(shape.layers):

        def n(t: Any, kind: str = "weight") -> str:
            return names[t].format(bid=i) + "." + kind

        specs += [
            (n(T.ATTN_NORM), (shape.hidden,)),
            (n(T.ATTN_Q), (q_out, shape.hidden)),
            (n(T.ATTN_Q, "bias"), (q_out,)),
            (n(T.ATTN_K), (kv_out, shape.hidden)),
            (n(T.ATTN_K, "bias"), (kv_out,)),
            (n(T.ATTN_V), (kv_out, shape.hidden)),
            (n(T.ATTN_V, "bias"), (kv_out,)),
            (n(T.ATTN_OUT), (shape.hidden, q_out)),
            (n(T.FFN_NORM), (shape.hidden,)),
            (n(T.FFN_GATE), (shape.ffn, shape.hidden)),
            (n(T.FFN_UP), (shape.ffn, shape.hidden)),
            (n(T.FFN_DOWN), (shape.hidden, shape.ffn)),
        ]
    specs.append((names[T.OUTPUT_NORM] + ".weight", (shape.hidden,)))

    def dtype(dims: tuple[int, ...]) -> Any:
        return np.float32 if len(dims) == 1 else np.float16

    for name, dims in specs:
        writer.add_tensor_info(name, dims, np.dtype(dtype(dims)), int(np.prod(dims)) * np.dtype(dtype(dims)).itemsize)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    for name, dims in specs:
        if name.endswith("norm.weight"):
            data = np.ones(dims, dtype=np.float32)
        else:
            data = (rng.standard_normal(dims, dtype=np.float32) * 0.02).astype(dtype(dims))
        writer.write_tensor_data(data)
    writer.close()
    params = sum(int(np.prod(d)) for _, d in specs)
    log.info("random qwen2 model: %d tensors, %.1fM parameters, %s", len(specs), params / 1e6, out)
    return out


def quantize_q4_k_m(source: Path, out: Path, threads: int = 0) -> Path:
    """``llama_model_quantize`` to Q4_K_M with llama.cpp's default mix (no importance matrix)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), params)
    if rc != 0 or not out.is_file():
        raise RuntimeError(f"{source}: llama_model_quantize to Q4_K_M failed (return code {rc})")
    return out


def tensor_types(path: Path, gguf: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in gguf.GGUFReader(str(path)).tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return counts


def attention_shape(path: Path, gguf: Any) -> dict[str, int]:
    """layers, KV heads and head size from a GGUF's metadata (for the KV-cache formula)."""
    fields = gguf.GGUFReader(str(path)).fields
    arch = fields["general.architecture"].contents()

    def value(key: str) -> int:
        return int(fields[f"{arch}.{key}"].contents())

    heads = value("attention.head_count")
    kv_heads = value("attention.head_count_kv") if f"{arch}.attention.head_count_kv" in fields else heads
    head_dim = value("attention.key_length") if f"{arch}.attention.key_length" in fields else None
    return {
        "layers": value("block_count"),
        "kv_heads": kv_heads,
        "head_dim": head_dim or value("embedding_length") // heads,
    }


def tiny_q4_k_m(work: Path) -> Path:
    """The project's tiny local model (``python -m pianocoach_train llm tiny``: random weights; the
    2-step fine-tune of ``make bench-llm`` keeps the shapes) converted and quantized like ``make export-llm``."""
    from pianocoach_export.llm_gguf import convert_to_gguf
    from pianocoach_train.llm.tiny import build_tiny_model

    folder = build_tiny_model(work / "tiny-base")
    f16 = convert_to_gguf(folder, work / "tiny-f16.gguf", "f16")
    return quantize_q4_k_m(f16, work / "tiny-Q4_K_M.gguf")


# ---------------------------------------------------------------------------------------------- measuring


def proc_status() -> dict[str, float]:
    """This process's VmRSS, VmHWM, RssAnon and RssFile, in MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = round(int(rest.split()[0]) / 1024, 1)
    return out


def probe(model: Path, n_ctx: int, prompt_tokens: int = PROMPT_TOKENS) -> dict[str, Any]:
    """Runs in the fresh subprocess: load as LocalBackend does (verbose on, for llama.cpp's buffer log),
    then a ``prompt_tokens`` prompt and GENERATE_TOKENS greedy tokens."""
    stages = {"start": proc_status()}
    import llama_cpp

    stages["imported"] = proc_status()
    began = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(model), n_threads=1, n_ctx=n_ctx, seed=0, verbose=True)
    load_s = time.perf_counter() - began
    stages["loaded"] = proc_status()
    prompt = llm.tokenize(PROMPT_TEXT.encode(), add_bos=True)
    while len(prompt) < prompt_tokens:
        prompt += llm.tokenize(PROMPT_TEXT.encode(), add_bos=False)
    prompt = prompt[:prompt_tokens]
    began = time.perf_counter()
    generated = []
    for token in llm.generate(prompt, top_k=1, temp=0.0):
        generated.append(token)
        if len(generated) >= GENERATE_TOKENS:
            break
    generate_s = time.perf_counter() - began
    stages["generated"] = proc_status()
    return {
        "stages": stages,
        "prompt_tokens": len(prompt),
        "generated_tokens": len(generated),
        "sample": llm.detokenize(generated[:8]).decode("utf-8", "replace"),
        "load_s": round(load_s, 2),
        "generate_s": round(generate_s, 2),
    }


BUFFER_LINE = re.compile(r"(\S+)\s+(model|KV|compute|output)\s+buffer size\s*=\s*([\d.]+)\s*MiB")


def measure(model: Path, n_ctx: int, prompt_tokens: int = PROMPT_TOKENS) -> dict[str, Any]:
    """One fresh interpreter per case; llama.cpp's buffer sizes are parsed from its stderr log."""
    command = [sys.executable, "-m", "pianocoach_train.llm.memory_budget", "--probe", str(model)]
    command += ["--n-ctx", str(n_ctx), "--prompt-tokens", str(prompt_tokens)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"probe {model.name} n_ctx={n_ctx} prompt={prompt_tokens} failed: {done.stderr.strip()[-800:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    buffers: dict[str, float] = {}
    for where, kind, mib in BUFFER_LINE.findall(done.stderr):
        key = f"{where} {kind}"
        buffers[key] = buffers.get(key, 0.0) + float(mib)
    result["llama_buffers_mib"] = buffers
    return result


def case_row(model_name: str, file_bytes: int, attention: dict[str, int], n_ctx: int, m: dict) -> dict[str, Any]:
    """Measured vs computed for one (model, n_ctx). The language model's share is the peak (VmHWM after
    generating) minus the interpreter before ``import llama_cpp``."""
    s = m["stages"]
    kv = kv_cache_bytes(attention["layers"], attention["kv_heads"], attention["head_dim"], n_ctx) / MIB
    compute = sum(v for k, v in m["llama_buffers_mib"].items() if k.endswith("compute"))
    output = sum(v for k, v in m["llama_buffers_mib"].items() if k.endswith("output"))
    computed = file_bytes / MIB + kv + compute + output  # + what `import llama_cpp` costs, measured
    return {
        "model": model_name,
        "n_ctx": n_ctx,
        "rss_start_mib": s["start"]["VmRSS"],
        "rss_imported_mib": s["imported"]["VmRSS"],
        "rss_loaded_mib": s["loaded"]["VmRSS"],
        "rss_generated_mib": s["generated"]["VmRSS"],
        "hwm_generated_mib": s["generated"]["VmHWM"],
        "rss_file_generated_mib": s["generated"].get("RssFile"),
        "rss_anon_generated_mib": s["generated"].get("RssAnon"),
        "model_share_mib": round(s["generated"]["VmHWM"] - s["start"]["VmRSS"], 1),
        "file_mib": round(file_bytes / MIB, 1),
        "kv_cache_mib": round(kv, 1),
        "compute_buffer_mib": round(compute, 1),
        "output_buffer_mib": round(output, 1),
        "import_mib": round(s["imported"]["VmRSS"] - s["start"]["VmRSS"], 1),
        "computed_mib": round(computed + s["imported"]["VmRSS"] - s["start"]["VmRSS"], 1),
        **{k: m[k] for k in ("prompt_tokens", "generated_tokens", "sample", "load_s", "generate_s")},
        "llama_buffers_mib": m["llama_buffers_mib"],
    }


def budget(model_mib: float) -> list[dict[str, Any]]:
    rows = []
    for board, ram in BOARDS.items():
        total = OS_MIB + DAEMON_MIB + model_mib
        left = ram - total
        rows.append(
            {
                "board": board,
                "ram_mib": ram,
                "os_mib": OS_MIB,
                "daemon_mib": DAEMON_MIB,
                "model_mib": round(model_mib, 1),
                "total_mib": round(total, 1),
                "left_mib": round(left, 1),
                "fits": left > 0,
                "left_pct": round(100 * left / ram, 1),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------- report


def verdict(row: dict[str, Any]) -> str:
    if not row["fits"]:
        return "**no**"
    return "yes, but tight" if row["left_pct"] < 25 else "yes"


def write_report(result: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "memory_budget.json", "md": out / "memory_budget.md"}
    paths["json"].write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    paths["md"].write_text(markdown(result))
    return paths


def markdown(result: dict[str, Any]) -> str:
    q = result["qwen"]
    lines = [
        "# The language model's memory beside the daemon",
        "",
        f"Measured {result['date']} on {result['host']['machine']} ({result['host']['cpu']}), llama-cpp-python "
        f"{result['host']['llama_cpp_python']}, `n_threads=1`, one fresh Python process per row; "
        f"{PROMPT_TOKENS}-token prompt (and one full {LONG_PROMPT_TOKENS}-token batch at n_ctx 1024), "
        f"{GENERATE_TOKENS} greedy tokens. **The 0.5B model has random weights**: "
        "Qwen2.5-0.5B-Instruct's exact architecture, tensor shapes and tokenizer, written with llama.cpp's "
        "gguf-py and quantized with `llama_model_quantize` (Q4_K_M, no importance matrix). It measures memory, "
        "not quality.",
        "",
        f"Q4_K_M file: **{q['q4_k_m_bytes']:,} bytes ({q['q4_k_m_bytes'] / MIB:.1f} MiB)**, tensor types "
        + ", ".join(f"{k} x{v}" for k, v in q["tensor_types"].items())
        + f"; the F16 file it came from: {q['f16_bytes'] / MIB:.1f} MiB.",
        "Published sizes of the real file (not checked here): "
        + "; ".join(f"{name}: {size}" for name, size in PUBLISHED.items())
        + ".",
        "",
        "## Resident memory per context (MiB)",
        "",
        "VmRSS of the process: *start* before `import llama_cpp`, then after the import, after `Llama(...)` and "
        "after generating; *peak* = VmHWM after generating (*file-backed*: its RssFile, the memory-mapped GGUF "
        "and the shared libraries). *LM share* = peak - start: what loading the model adds to a process. "
        "*computed* = `import llama_cpp` (measured) + file + KV cache (f16: 2 x layers x n_ctx x KV heads x head "
        "dim x 2 B) + the compute and output buffers llama.cpp's log reports.",
        "",
        "| model | n_ctx | prompt | start | import | load | generate | peak | file-backed "
        "| **LM share** | file | KV cache | compute buffer | computed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in result["cases"]:
        lines.append(
            f"| {c['model']} | {c['n_ctx']} | {c['prompt_tokens']} | {c['rss_start_mib']} | {c['rss_imported_mib']} "
            f"| {c['rss_loaded_mib']} | {c['rss_generated_mib']} | {c['hwm_generated_mib']} "
            f"| {c['rss_file_generated_mib']} | **{c['model_share_mib']}** | {c['file_mib']} | {c['kv_cache_mib']} "
            f"| {c['compute_buffer_mib']} | {c['computed_mib']} |"
        )
    lines += [
        "",
        "Computed overstates the 0.5B model: llama.cpp sizes its compute buffer for the worst case (logits for "
        "every position of a 512-token batch, 151936 x 512 x 4 B = 297 MiB), but a completion asks for the last "
        "position's logits only, and pages never written are never resident. The weights are resident from "
        "`Llama(...)` on (llama.cpp prefetches the mapped file at load), and so is the KV cache (cleared at load).",
    ]
    if result.get("tiny_skipped"):
        lines += ["", f"The tiny model was not measured: {result['tiny_skipped']}."]
    else:
        t = result["tiny"]
        lines += [
            "",
            f"The tiny model (`python -m pianocoach_train llm tiny`, built here with its default texts: vocabulary "
            f"{t['vocab']}, Q4_K_M {t['q4_k_m_bytes']:,} bytes) costs little more than `import llama_cpp` itself.",
        ]
    b = result["budget"]
    lines += [
        "",
        "## Budget with the 0.5B Q4_K_M at n_ctx 1024 (MiB)",
        "",
        "| | " + " | ".join(r["board"] for r in b) + " |",
        "| --- | " + " | ".join("---:" for _ in b) + " |",
        "| RAM | " + " | ".join(str(r["ram_mib"]) for r in b) + " |",
        "| OS and services (assumed) | " + " | ".join(str(r["os_mib"]) for r in b) + " |",
        "| PianoCoach daemon, no LM | " + " | ".join(str(r["daemon_mib"]) for r in b) + " |",
        "| 0.5B Q4_K_M, n_ctx 1024 | " + " | ".join(str(r["model_mib"]) for r in b) + " |",
        "| **total** | " + " | ".join(f"**{r['total_mib']}**" for r in b) + " |",
        "| left | " + " | ".join(f"{r['left_mib']} ({r['left_pct']} %)" for r in b) + " |",
        "| fits? | " + " | ".join(verdict(r) for r in b) + " |",
        "",
        *result["notes"],
        "",
    ]
    return "\n".join(lines)


def run(out: Path, keep: Path | None = None, tiny: bool = True) -> dict[str, Any]:
    began = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="pianocoach-llm-mem-"))
    work = keep or scratch
    work.mkdir(parents=True, exist_ok=True)
    try:
        gguf_py, vocab = llama_sources(scratch)
        gguf = import_gguf(gguf_py)
        f16 = write_random_qwen2(work / "qwen2.5-0.5b-shape-random-f16.gguf", vocab, gguf)
        log.info("quantizing to Q4_K_M")
        q4 = quantize_q4_k_m(f16, work / "qwen2.5-0.5b-shape-random-Q4_K_M.gguf")
        qwen = {
            "architecture": asdict(QWEN25_05B),
            "weights": "random N(0, 0.02), norms 1",
            "f16_bytes": f16.stat().st_size,
            "q4_k_m_bytes": q4.stat().st_size,
            "tensor_types": tensor_types(q4, gguf),
            "published_q4_k_m": PUBLISHED,
        }
        models = [("0.5B Q4_K_M (random)", q4)]
        tiny_skipped, tiny_info = None, None
        if tiny:
            try:
                t0 = time.perf_counter()
                tiny_path = tiny_q4_k_m(work)
                models.append(("tiny Q4_K_M", tiny_path))
                tokens = gguf.GGUFReader(str(tiny_path)).fields["tokenizer.ggml.tokens"].contents()
                tiny_info = {"q4_k_m_bytes": tiny_path.stat().st_size, "vocab": len(tokens)}
                log.info("tiny model built in %.0f s", time.perf_counter() - t0)
            except Exception as exc:  # optional: the 0.5B figures stand without it
                tiny_skipped = f"{type(exc).__name__}: {exc}"
                log.warning("tiny model skipped (%s)", tiny_skipped)
        else:
            tiny_skipped = "--no-tiny"
        cases = []
        for name, path in models:
            attention = attention_shape(path, gguf)
            for n_ctx, prompt in [(n, PROMPT_TOKENS) for n in CONTEXTS] + [(1024, LONG_PROMPT_TOKENS)]:
                log.info("measuring %s at n_ctx %d, %d-token prompt", name, n_ctx, prompt)
                cases.append(case_row(name, path.stat().st_size, attention, n_ctx, measure(path, n_ctx, prompt)))
        # the budget takes the larger of the 150- and 512-token prompts at n_ctx 1024
        at_1024 = max(
            (c for c in cases if c["model"] == models[0][0] and c["n_ctx"] == 1024), key=lambda c: c["model_share_mib"]
        )
        result = {
            "date": time.strftime("%Y-%m-%d"),
            "host": host_info(),
            "qwen": qwen,
            "tiny": tiny_info,
            "tiny_skipped": tiny_skipped,
            "prompt_tokens": [PROMPT_TOKENS, LONG_PROMPT_TOKENS],
            "generate_tokens": GENERATE_TOKENS,
            "cases": cases,
            "budget_assumptions": {"os_mib": OS_MIB, "daemon_mib": DAEMON_MIB, "boards_ram_mib": BOARDS},
            "budget": budget(at_1024["model_share_mib"]),
            "notes": notes(at_1024),
        }
        result["seconds"] = round(time.perf_counter() - began, 1)
        result["files"] = {
            k: str(v.relative_to(REPO_ROOT) if v.is_relative_to(REPO_ROOT) else v)
            for k, v in write_report(result, out).items()
        }
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def notes(at_1024: dict[str, Any]) -> list[str]:
    return [
        f"- OS and services: {OS_MIB} MiB is an **assumption** for Raspberry Pi OS Lite (Bookworm, systemd, "
        "no desktop), not measured here.",
        f"- Daemon: {DAEMON_MIB} MiB is the measured peak RSS of the daemon over `make soak` (179-189 MB), "
        "rounded up; it does not import llama_cpp.",
        f"- LM: the measured peak at n_ctx 1024 minus the bare interpreter, the larger of the two prompts "
        f"({at_1024['model_share_mib']} MiB, {at_1024['prompt_tokens']}-token prompt), `import llama_cpp` included. "
        f"{at_1024['file_mib']} MiB of it is the memory-mapped GGUF: file-backed pages the kernel can drop and read "
        "back under pressure, at the cost of speed, so a tight board degrades (slow answers) before it runs out.",
        "- RAM is the nominal size; the kernel sees less (the firmware keeps some for the GPU, `gpu_mem`), so "
        "read `MemTotal` on the board before trusting a small margin.",
        "- Measured on the x86-64 host, whose llama.cpp repacks some Q4_K weights into anonymous memory "
        f"({at_1024['llama_buffers_mib'].get('CPU_REPACK model', 0)} MiB here); the Pi's ARM build may repack "
        "differently, so confirm on a device.",
    ]


def host_info() -> dict[str, str]:
    import llama_cpp

    cpu = platform.processor() or ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {"machine": platform.machine(), "cpu": cpu, "llama_cpp_python": llama_cpp.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "llm")
    parser.add_argument("--keep", type=Path, help="keep the GGUF files here (default: a temporary folder, removed)")
    parser.add_argument("--no-tiny", action="store_true", help="skip the project's tiny model")
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n-ctx", type=int, default=1024, help=argparse.SUPPRESS)
    parser.add_argument("--prompt-tokens", type=int, default=PROMPT_TOKENS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.n_ctx, args.prompt_tokens)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = run(args.out, args.keep, tiny=not args.no_tiny)
    print(markdown(result))
    print(f"written: {', '.join(result['files'].values())} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
