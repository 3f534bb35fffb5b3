"""``make export-llm``: a fine-tuned run (or any local Hugging Face model folder) -> float GGUF ->
quantized GGUF -> greedy parity check -> a signed bundle that carries it as the ``feedback_llm`` model
beside the scorers of an existing bundle (the committed default bundle unless told otherwise)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pianocoach.bundle import sha256_file
from pianocoach.feedback.choose import FEEDBACK_ROLE
from pianocoach.jsonio import write_json_atomic
from pianocoach_export.bundle_writer import BundleModel, models_from_bundle
from pianocoach_export.llm_gguf import GGUFExportError, convert_to_gguf, greedy_parity, quantize, tensor_types

log = logging.getLogger(__name__)


@dataclass
class LLMExport:
    float_gguf: Path
    quantized_gguf: Path
    report: dict
    model: BundleModel


def model_folder(path: Path) -> Path:
    """A fine-tuning run's merged model, or the folder itself when it is a model."""
    path = Path(path)
    if (path / "merged" / "config.json").is_file():
        return path / "merged"
    if (path / "config.json").is_file():
        return path
    raise GGUFExportError(
        f"{path}: neither a fine-tuning run (no merged/) nor a Hugging Face model folder (no config.json)"
    )


def export_llm(source: Path, out_dir: Path, kind: str = "Q4_K_M", min_agreement: float = 0.0) -> LLMExport:
    """Convert, quantize and check; ``min_agreement``: the least mean greedy agreement with the float
    model the quantized one must reach (a too-coarse quantization then fails here, not on the device)."""
    folder = model_folder(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    float_gguf = convert_to_gguf(folder, out_dir / "feedback-f16.gguf", "f16")
    quantized = quantize(float_gguf, out_dir / f"feedback-{kind}.gguf", kind)
    parity = greedy_parity(float_gguf, quantized)
    report = {
        "source": str(folder),
        "quantization": kind,
        "float_bytes": float_gguf.stat().st_size,
        "quantized_bytes": quantized.stat().st_size,
        "tensor_types": tensor_types(quantized),
        "sha256": sha256_file(quantized),
        "greedy_parity": parity.to_dict(),
    }
    write_json_atomic(out_dir / "export_llm.json", report)
    if parity.mean_agreement < min_agreement:
        raise GGUFExportError(
            f"{quantized}: greedy agreement with the float model {parity.mean_agreement:.2f} is below "
            f"{min_agreement:.2f}; try Q8_0"
        )
    evaluation = _run_evaluation(source)
    model = BundleModel(
        FEEDBACK_ROLE,
        quantized,
        _architecture(folder),
        kind,
        (),
        metrics={
            "greedy_parity": {k: v for k, v in parity.to_dict().items() if k != "samples"},
            "float_bytes": report["float_bytes"],
            **evaluation,
        },
        provenance={"source": str(folder)},
    )
    return LLMExport(float_gguf, quantized, report, model)


def bundle_with_feedback(base_bundle: Path, feedback: BundleModel) -> tuple[list[BundleModel], dict]:
    """The base bundle's models with the feedback model added (replacing any it had)."""
    models, audio_path = models_from_bundle(base_bundle)
    return [m for m in models if m.role != FEEDBACK_ROLE] + [feedback], audio_path


def _architecture(folder: Path) -> str:
    import json

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    layers, width = config.get("num_hidden_layers", "?"), config.get("hidden_size", "?")
    return f"{config.get('model_type', 'causal-lm')} {layers}x{width}"


def _run_evaluation(source: Path) -> dict:
    """The fine-tuning run's validation loss, when the source is a run."""
    import json

    path = Path(source) / "evaluation.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"validation_loss": data.get("validation_loss"), "train_records": data.get("train_records")}
