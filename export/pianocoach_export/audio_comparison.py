"""The audio comparison table (README, ``reports/audio/audio.md``); the bundle's audio-path choice is
:mod:`pianocoach_train.audio.path_choice` (imported here as before).

Reads ``reports/audio/audio_eval.json`` (``python -m pianocoach_train audio eval``), exports each audio
model of the performer split's fold 0 for its INT8 size and single-thread latency per 2 s block, and
writes the table. The audio path a bundle ships is the better, by mean R² over the splits, of the best
audio model alone and its fusion with the transcription path (the transcription path alone is reported
beside them for comparison; a bundle for microphone input always carries an audio model).
"""

from __future__ import annotations

import logging
from pathlib import Path

from pianocoach.jsonio import read_json, write_json_atomic
from pianocoach_train.audio.evaluate import TRANSCRIPTION_ROWS
from pianocoach_train.audio.models import ARCHITECTURES
from pianocoach_train.audio.path_choice import EVAL_REPORT, choose_audio_path, fusion_weight, mean_r2
from pianocoach_train.paths import REPO_ROOT

log = logging.getLogger(__name__)

REPORT_DIR = REPO_ROOT / "reports" / "audio"
GOAL_GAP_R2 = 0.05  # the audio path should be within this of the true-MIDI path

ROWS = {
    "midi_true": "MIDI scorer (blend) on the true MIDI",
    "midi_on_transcription": "MIDI scorer (blend) on transcribed audio (basic-pitch)",
    "transcription": "transcription path: blend retrained on transcribed renders",
    "transcription_heard_pedal": "the same with the pedal heard in the renders (measured, not adopted)",
    "transcription_heard_velocity": "the same with the key velocities heard in the renders (shipped)",
    "transcription_heard_ends": "the same with the note ends heard too (measured, not adopted)",
    "transcription_heard_ends_crossfit": "the same, each take's ends from a note-end model that never heard it",
    "pc_fcn:weighted": "PC-FCN (pitch contour)",
    "m_crnn:weighted": "M-CRNN (log-mel)",
    "hybrid:weighted": "Hybrid (PC-FCN + M-CRNN)",
}


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def write_audio_report(exports: dict[str, dict], midi_export: dict | None, out_dir: Path = REPORT_DIR) -> Path:
    report = read_json(EVAL_REPORT, what="audio evaluation report")
    splits = list(report["splits"])
    rows = dict(ROWS)
    for model in ARCHITECTURES:
        if any(f"fusion_{model}" in report["splits"][s] for s in splits):
            rows[f"fusion_{model}"] = (
                f"fusion: {model} + transcription path (audio share {fusion_weight(report, model):.2f}, "
                "chosen per fold on validation)"
            )
    header = [
        "path",
        *[f"{s} R²" for s in splits],
        "Pearson r (performer)",
        "INT8 size",
        "ms / 2 s block (INT8 / float)",
        "features ms / block",
    ]
    lines = [
        f"Every audio path is scored on audio rendered with the held-out soundfont ({report['held_out_soundfont']}); "
        f"training used {', '.join(report['training_soundfonts'])}. R² is the mean over the fold models of each split "
        "(mean per-scale R², as the MIDI table); block models aggregate a performance's 2 s blocks by the "
        "onset-activity-weighted mean. Latency: one thread, median per call, INT8 and float interleaved.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    midi_size = f"{midi_export['int8']['bytes'] / 1e6:.1f} MB" if midi_export and midi_export.get("int8") else "—"
    for row, title in rows.items():
        if not any(row in report["splits"][s] for s in splits):
            continue
        r2 = [_fmt(report["splits"][s][row]["mean"]["r2"]) if row in report["splits"][s] else "—" for s in splits]
        pearson = (
            _fmt(report["splits"]["performer"][row]["mean"]["pearson"])
            if row in report["splits"].get("performer", {})
            else "—"
        )
        model = row.split(":")[0]
        size, ms, feats = "—", "—", "—"
        if model in exports:
            e = exports[model]
            size = f"{e['int8']['bytes'] / 1e6:.2f} MB"
            ms = f"{e['int8']['latency_ms']:.2f} / {e['float']['latency_ms']:.2f}"
            feats = f"{e['float']['features_ms']:.1f}"
        elif row in ("midi_true", "midi_on_transcription", *TRANSCRIPTION_ROWS):
            size = midi_size
            ms = "transcription + descriptors (see make bench)" if row != "midi_true" else "—"
        lines.append(f"| {title} | " + " | ".join(r2) + f" | {pearson} | {size} | {ms} | {feats} |")
    choice = choose_audio_path()
    true_midi = mean_r2(report, "midi_true")
    if choice and true_midi is not None:
        best = max(choice["measured"][k] for k in ("audio_model", "fusion", "transcription") if k in choice["measured"])
        lines += [
            "",
            f"Chosen for the bundle's microphone path: **{choice['mode']}** ({choice['audio_model']}), mean R² "
            f"{best:.3f} over {', '.join(splits)} against {true_midi:.3f} for the true-MIDI path (gap "
            f"{true_midi - best:.3f}; goal ≤ {GOAL_GAP_R2}).",
        ]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "audio.md"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    write_json_atomic(out_dir / "audio_exports.json", exports)
    return path
