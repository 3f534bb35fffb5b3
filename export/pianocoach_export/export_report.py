"""The float vs INT8 table `make export` prints and saves (reports/export/export.md and .json)."""

from __future__ import annotations

from pathlib import Path

from pianocoach.jsonio import write_json_atomic
from pianocoach_export.export_models import ExportResult


def _mb(n: float | None) -> str:
    return "—" if n is None else f"{n / 1e6:.3f} MB"


def _ms(n: float | None) -> str:
    return "—" if n is None else f"{n:.3f}"


def table(results: list[ExportResult]) -> str:
    lines = [
        "| model | parity max abs | size float | size INT8 | R² float | R² INT8 | ΔR² | ms float | ms INT8 | ships |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        int8 = r.int8 or {}
        delta = f"{int8['r2'] - r.float['r2']:+.4f}" if int8 else "—"
        lines.append(
            f"| {r.model} | {r.parity_max_abs:.1e} | {_mb(r.float['bytes'])} | {_mb(int8.get('bytes'))} | "
            f"{r.float['r2']:.4f} | {int8['r2'] if int8 else '—'} | {delta} | {_ms(r.float.get('latency_ms'))} | "
            f"{_ms(int8.get('latency_ms'))} | {r.chosen()[1]} |"
        )
    return "\n".join(lines)


def details(results: list[ExportResult]) -> str:
    lines = ["What stayed float, and magnitude pruning (50 % of each Linear/Conv weight zeroed, float model):", ""]
    for r in results:
        q = r.quantization or {}
        ops = lambda d: ", ".join(f"{k} x{v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
        lines.append(
            f"- **{r.model}**: {q.get('method')}; int8 ops: {ops(q.get('int8_ops', {}))}; "
            f"float ops: {ops(q.get('float_ops', {}))}."
        )
        if r.pruning:
            p = r.pruning
            lines.append(
                f"  Pruned: {p['weights_zeroed']:.0%} of weights zero, R² {p['r2']:.4f} ({p['r2_change']:+.4f}), "
                f"gzip {_mb(p['unpruned_gzip_bytes'])} -> {_mb(p['gzip_bytes'])} (raw size unchanged: "
                f"{_mb(p['bytes'])})."
            )
        elif r.pruning is None and r.model in ("extra_trees", "boosting"):
            lines.append("  Pruning: not applicable (no torch weights).")
    return "\n".join(lines)


def write(results: list[ExportResult], out_dir: Path, name: str = "export") -> dict[str, Path]:
    md = out_dir / f"{name}.md"
    js = out_dir / f"{name}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    text = (
        "# Export: float vs INT8 (release models, performer test list)\n\n"
        "R² = mean per-scale R² on the performer split's 193-performance test list (which the release models never "
        "saw); ms = median single-thread ONNX Runtime latency of one scoring call (one performance), float and INT8 "
        "timed call by call in one run on this host. Parity: largest |ONNX Runtime - original| on 8 fixed "
        "performances (limit 1e-4). INT8 ships when it loses at most 0.01 R².\n\n"
        f"{table(results)}\n\n{details(results)}\n"
    )
    tmp = md.with_name(f".{md.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(md)
    write_json_atomic(js, [r.to_dict() for r in results])
    return {"markdown": md, "json": js}
