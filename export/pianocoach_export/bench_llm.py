"""``make bench-llm``: how fast the feedback model runs with llama.cpp, and how relevant the feedback is.

Speed: the tiny model (fine-tuned two steps, the chain the tests run) as float (F16 GGUF), Q8_0 and
Q4_K_M, on one and two threads: time to first token and generation tokens per second over fixed
prompts, 64 tokens each (end-of-sequence suppressed so every run writes the same length). The variants
run interleaved, round after round, and the median is reported: these machines share 2 cores, so only
side-by-side ratios mean much.

Relevance: held-out performances (the instruction data's validation side) whose rater comment names at
least one aspect (:mod:`pianocoach.feedback.aspects`). Each backend writes feedback from that
performance's mean ratings and measurements; we count how often the feedback addresses an aspect the
human comment addresses (hit rate), the share of the comment's aspects covered (recall) and the share of
the feedback's aspects the comment also names (precision). Baseline: feedback naming one aspect drawn
at random.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from pianocoach.feedback.aspects import ASPECTS, tag_aspects
from pianocoach.feedback.backends import LocalBackend
from pianocoach.feedback.prompt import FeedbackRequest
from pianocoach.feedback.writer import FeedbackWriter
from pianocoach.jsonio import write_json_atomic
from pianocoach_export.llm_gguf import convert_to_gguf, parity_prompts, quantize

log = logging.getLogger(__name__)

GENERATE_TOKENS = 64


@dataclass
class Variant:
    name: str  # "float (F16)", "Q8_0", "Q4_K_M"
    path: Path


def make_variants(model_dir: Path, out_dir: Path) -> list[Variant]:
    float_gguf = convert_to_gguf(model_dir, out_dir / "tiny-f16.gguf", "f16")
    return [
        Variant("float (F16)", float_gguf),
        Variant("Q8_0", quantize(float_gguf, out_dir / "tiny-Q8_0.gguf", "Q8_0")),
        Variant("Q4_K_M", quantize(float_gguf, out_dir / "tiny-Q4_K_M.gguf", "Q4_K_M")),
    ]


def _one_run(llm, prompt: str) -> tuple[float, float]:
    """(seconds to the first token, generated tokens per second after it) for one prompt."""
    eos = llm.token_eos()
    started = time.perf_counter()
    first = None
    count = 0
    for _ in llm.create_completion(
        prompt, max_tokens=GENERATE_TOKENS, temperature=0.0, top_k=1, stream=True, logit_bias={eos: -1e9}
    ):
        count += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return first - started, (count - 1) / max(end - first, 1e-9)


def token_speed(variants: list[Variant], threads: tuple[int, ...] = (1, 2), rounds: int = 3) -> list[dict]:
    from llama_cpp import Llama

    prompts = []
    loaded = {}
    for variant in variants:
        for n in threads:
            llm = Llama(model_path=str(variant.path), n_threads=n, n_threads_batch=n, n_ctx=1024, seed=0, verbose=False)
            loaded[(variant.name, n)] = llm
            if not prompts:
                prompts = [_render(llm, m) for m in parity_prompts()]
            _one_run(llm, prompts[0])  # warm-up
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {key: [] for key in loaded}
    for _ in range(rounds):
        for key, llm in loaded.items():
            for prompt in prompts:
                llm.reset()  # no prompt cache: every run evaluates its prompt
                samples[key].append(_one_run(llm, prompt))
    rows = []
    for (name, n), runs in samples.items():
        prompt_tokens = statistics.mean(len(loaded[(name, n)].tokenize(p.encode("utf-8"))) for p in prompts)
        rows.append(
            {
                "model": name,
                "threads": n,
                "ttft_ms": round(1000 * statistics.median(r[0] for r in runs), 2),
                "tokens_per_s": round(statistics.median(r[1] for r in runs), 1),
                "prompt_tokens": round(prompt_tokens),
                "generated_tokens": GENERATE_TOKENS,
                "runs": len(runs),
                "file_mb": round(next(v for v in variants if v.name == name).path.stat().st_size / 1e6, 2),
            }
        )
    return rows


def _render(llm, messages: list[dict[str, str]]) -> str:
    """The chat prompt as text, formatted with the GGUF's own chat template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata["tokenizer.chat_template"]
    formatter = Jinja2ChatFormatter(template, eos_token="</s>", bos_token="")
    return formatter(messages=messages).prompt


@dataclass
class HeldOut:
    performance: str
    comment: str
    aspects: set[str]
    request: FeedbackRequest


def held_out_comments(data_dir: Path, facts) -> list[HeldOut]:
    """Validation-side rater comments that name an aspect, with their performance's feedback request."""
    from pianocoach_train.llm.records import read_records

    out = []
    for record in read_records(data_dir / "validation.jsonl"):
        if record.source != "percepiano_comment" or not record.meta.get("aspects"):
            continue
        ident = record.meta["performance"]
        out.append(
            HeldOut(ident, record.messages[-1]["content"], set(record.meta["aspects"]), facts.request(ident, "en", 45))
        )
    return out


def relevance(writer: FeedbackWriter, items: list[HeldOut]) -> dict:
    hits, recalls, precisions, mentioned, sources = 0, [], [], [], {}
    for item in items:
        feedback = writer.write(item.request)
        sources[feedback.source] = sources.get(feedback.source, 0) + 1
        found = tag_aspects(feedback.text)
        both = found & item.aspects
        hits += bool(both)
        recalls.append(len(both) / len(item.aspects))
        precisions.append(len(both) / len(found) if found else 0.0)
        mentioned.append(len(found))
    n = max(len(items), 1)
    return {
        "comments": len(items),
        "hit_rate": round(hits / n, 3),
        "recall": round(sum(recalls) / n, 3),
        "precision": round(sum(precisions) / n, 3),
        "aspects_per_feedback": round(sum(mentioned) / n, 2),
        "written_by": sources,
    }


def random_baseline(items: list[HeldOut], seed: int = 0) -> dict:
    rng = random.Random(seed)
    hits = sum(bool({rng.choice(ASPECTS)} & item.aspects) for item in items)
    return {"comments": len(items), "hit_rate": round(hits / max(len(items), 1), 3)}


def local_writer(model: Path) -> FeedbackWriter:
    return FeedbackWriter(
        LocalBackend(model, threads=2, context=1024), max_tokens=80, temperature=0.0, time_limit_s=30.0
    )


def write_report(result: dict, out: Path) -> dict[str, Path]:
    json_path = out.with_suffix(".json")
    write_json_atomic(json_path, result)
    md = out.with_suffix(".md")
    lines = [
        "| model | threads | time to first token (ms) | tokens/s | file (MB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['model']} | {r['threads']} | {r['ttft_ms']:.1f} | {r['tokens_per_s']:.0f} | {r['file_mb']:.2f} |"
        for r in result["speed"]
    ]
    lines += [
        "",
        "| feedback backend | held-out comments | hit rate | recall | precision | aspects per feedback | "
        "written by the model |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in result["relevance"].items():
        cells = [f"{r[k]:.3f}" if k in r else "—" for k in ("hit_rate", "recall", "precision")]
        per = f"{r['aspects_per_feedback']:.2f}" if "aspects_per_feedback" in r else "—"
        by = r.get("written_by", {})
        model = sum(n for k, n in by.items() if k != "template")
        written = f"{model} of {r['comments']}" if by and name != "template" else "—"
        lines.append(f"| {name} | {r['comments']} | {' | '.join(cells)} | {per} | {written} |")
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    png = out.with_suffix(".png")
    _plot(result["speed"], png)
    return {"json": json_path, "markdown": md, "plot": png}


def _plot(rows: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["model"] for r in rows))
    threads = sorted({r["threads"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    width = 0.8 / len(threads)
    for i, n in enumerate(threads):
        xs = [k + i * width for k in range(len(names))]
        by = {r["model"]: r for r in rows if r["threads"] == n}
        axes[0].bar(xs, [by[m]["tokens_per_s"] for m in names], width, label=f"{n} thread{'s' if n > 1 else ''}")
        axes[1].bar(xs, [by[m]["ttft_ms"] for m in names], width, label=f"{n} thread{'s' if n > 1 else ''}")
    for ax, title in zip(
        axes, ("generation, tokens/s (higher is better)", "time to first token, ms (lower is better)")
    ):
        ax.set_xticks([k + width * (len(threads) - 1) / 2 for k in range(len(names))], names)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle("tiny feedback model (hidden 256, 2 layers) in llama.cpp, this host", fontsize=10)
    fig.tight_layout()
    tmp = png.with_name(f".{png.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(png)


def run_bench(
    out: Path, work: Path, data_dir: Path, percepiano: Path, models: list[Path], rounds: int = 3, progress: bool = False
) -> dict:
    """The whole benchmark: instruction data (built when missing), the tiny model fine-tuned two steps,
    its three GGUF variants, token speed, and feedback relevance for the template backend, the tiny
    model and any ``models`` (GGUF files) given."""
    from pianocoach_train.llm.data import BuildOptions, PerformanceFacts, build_instruction_data
    from pianocoach_train.llm.finetune import finetune
    from pianocoach_train.llm.finetune_config import PRESETS_DIR, load_finetune_config
    from pianocoach_train.llm.records import read_records
    from pianocoach_train.llm.tiny import build_tiny_model

    options = BuildOptions(percepiano, data_dir, progress=progress)
    if not (data_dir / "validation.jsonl").is_file():
        build_instruction_data(options)
    texts = [m["content"] for r in read_records(data_dir / "train.jsonl")[:3000] for m in r.messages]
    base = build_tiny_model(work / "tiny-base", texts)
    config = load_finetune_config(
        PRESETS_DIR / "tiny.toml",
        {
            "model.base": str(base),
            "data.train": str(data_dir / "train.jsonl"),
            "data.validation": str(data_dir / "validation.jsonl"),
            "training.output_dir": str(work / "tiny-run"),
        },
    )
    run = finetune(config, progress=progress)
    variants = make_variants(run.merged_dir, work)
    speed = token_speed(variants, rounds=rounds)
    items = held_out_comments(data_dir, PerformanceFacts(options))
    scores = {
        "random aspect (baseline)": random_baseline(items),
        "template": relevance(FeedbackWriter(), items),
        "tiny model, 2 QLoRA steps (Q4_K_M)": relevance(local_writer(variants[-1].path), items),
    }
    for model in models:
        scores[f"{model.name}"] = relevance(local_writer(model), items)
    result = {
        "speed": speed,
        "relevance": scores,
        "tiny_model": {"base": _shown(base), "evaluation": run.evaluation},
        "generate_tokens": GENERATE_TOKENS,
        "rounds": rounds,
    }
    result["files"] = {k: _shown(v) for k, v in write_report(result, out).items()}
    return result


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    from pianocoach_train.paths import REPO_ROOT

    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
