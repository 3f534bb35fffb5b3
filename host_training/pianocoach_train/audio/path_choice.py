"""Which audio path a bundle ships, read from ``make eval-audio``'s ``reports/audio/audio_eval.json``.

The better, by mean R² over the splits, of the best audio model alone and its fusion with the transcription
path (the transcription path alone is reported beside them; a bundle for microphone input always carries an
audio model). ``make audio-release`` trains the release models of this choice; export ships them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pianocoach.jsonio import read_json
from pianocoach_train.audio.models import ARCHITECTURES
from pianocoach_train.paths import REPO_ROOT

EVAL_REPORT = REPO_ROOT / "reports" / "audio" / "audio_eval.json"


def mean_r2(report: dict, row: str) -> float | None:
    values = [report["splits"][s][row]["mean"]["r2"] for s in report["splits"] if row in report["splits"][s]]
    return float(np.mean(values)) if values else None


def fusion_weight(report: dict, model: str) -> float:
    """The mean over every fold of the audio share each fold chose on its validation performances."""
    weights = [
        f["audio_weight"]
        for split in report["splits"].values()
        for f in split.get(f"fusion_{model}", {}).get("folds", [])
    ]
    return round(float(np.mean(weights)), 2) if weights else 0.5


def shipped_transcription_row(report: dict) -> str:
    from pianocoach_train.audio.evaluate import SHIPPED_TRANSCRIPTION

    return SHIPPED_TRANSCRIPTION if mean_r2(report, SHIPPED_TRANSCRIPTION) is not None else "transcription"


def choose_audio_path(path: Path = EVAL_REPORT) -> dict | None:
    if not path.is_file():
        return None
    report = read_json(path, what="audio evaluation report")
    models = [m for m in ARCHITECTURES if mean_r2(report, f"{m}:weighted") is not None]
    if not models:
        return None
    best = max(models, key=lambda m: mean_r2(report, f"{m}:weighted"))
    candidates = {
        "audio_model": mean_r2(report, f"{best}:weighted"),
        "fusion": mean_r2(report, f"fusion_{best}"),
        # the transcription path the bundle ships (the notes alone in a report from before it was measured)
        "transcription": mean_r2(report, shipped_transcription_row(report)),
    }
    candidates = {k: v for k, v in candidates.items() if v is not None}
    mode = max((k for k in candidates if k != "transcription"), key=candidates.get)
    weight = {"audio_model": 1.0, "fusion": fusion_weight(report, best), "transcription": 0.0}[mode]
    return {
        "mode": mode,
        "audio_weight": weight,
        "audio_model": best,
        "measured": {k: round(v, 4) for k, v in candidates.items()} | {"splits": list(report["splits"])},
    }


def release_models(choice: dict | None) -> tuple[str, ...]:
    """The release runs a bundle with this audio path needs: the audio model, the transcription path, or both."""
    if choice is None:
        return ()
    models = (choice["audio_model"],) if choice["mode"] in ("audio_model", "fusion") else ()
    from pianocoach_train.audio.evaluate import SHIPPED_TRANSCRIPTION

    return models + ((SHIPPED_TRANSCRIPTION,) if choice["mode"] in ("fusion", "transcription") else ())
