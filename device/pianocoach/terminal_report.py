"""A performance result as a short report for a terminal (and, trimmed, for the device's display)."""

from __future__ import annotations

from pianocoach.rating_scales import SCALES
from pianocoach.repertoire.fundamentals import EXPRESSION_WEIGHT, MARK_FLOOR
from pianocoach.scoring.result import PerformanceResult

BAR = 13  # characters between the two end words; the middle tick marks 4/7, the middle of the rating scale


def scale_bar(value: float) -> str:
    """A marker on a line from the low end (1/7) to the high end (1)."""
    position = min(BAR - 1, max(0, int(round((value - 1 / 7) / (6 / 7) * (BAR - 1)))))
    return "".join("●" if i == position else ("┼" if i == (BAR - 1) // 2 else "─") for i in range(BAR))


def format_report(result: PerformanceResult) -> str:
    lang = result.language
    scored_by = ""
    if result.audio_path:
        scored_by = {
            "audio_model": f"audio model, {result.audio_blocks} blocks",
            "fusion": f"audio model ({result.audio_blocks} blocks) + transcription",
            "transcription": "transcription",
        }.get(result.audio_path, result.audio_path)
        scored_by = f" [{scored_by}]"
    lines = [
        f"{result.input}: {result.source}, {result.duration_s:.1f} s, {_scored(result)}{scored_by}; "
        f"overall {result.overall:.0f}/100{' (provisional)' if result.provisional else ''}"
    ]
    if result.piece is not None:
        lines.append(f"  piece: {_piece(result.piece)}")
    if result.fundamentals is not None:
        lines += [f"  {line}" for line in _fundamentals(result)]
    low_width = max(len(s.ends(lang)[0]) for s in SCALES)
    shown_scales = result.shown_scales()
    for scale in SCALES:
        low, high = scale.ends(lang)
        value = shown_scales[scale.name]
        if value is None:
            unknown = "未知（这种输入无法测出）" if lang == "zh" else "unknown: this input cannot show it"
            lines.append(f"  {scale.topic(lang):<20} {low:>{low_width}} {unknown}")
            continue
        lines.append(f"  {scale.topic(lang):<20} {low:>{low_width}} {scale_bar(value)} {high:<22} {7 * value:.1f}/7")
    shown = (
        "tempo_bpm",
        "tempo_variation_pct",
        "dynamic_range_db",
        "velocity_range",
        "pedal_down_pct",
        "articulation_ratio",
        "note_count",
    )
    label = "label_zh" if lang == "zh" else "label_en"
    lines.append("  " + "; ".join(_measure(result.measures[k], label) for k in shown if k in result.measures))
    for warning in result.warnings:
        lines.append(f"  warning: {warning}")
    lines.append(f"  {result.feedback}")
    t = result.timing
    lines.append(
        f"  (transcription {t['transcription']:.2f} s, features {t['features']:.2f} s, "
        f"inference {t['inference']:.3f} s)"
    )
    return "\n".join(lines)


def _scored(result: PerformanceResult) -> str:
    return "scored whole" if result.whole_take else f"{result.windows} windows"


def _measure(item: dict, label: str) -> str:
    zh = label == "label_zh"
    if item["value"] is None:
        why = item.get("unknown_zh") if zh else item.get("unknown")
        return f"{item[label]} {'未知' if zh else 'unknown'}" + (f" ({why})" if why else "")
    said = "估算" in item[label] or "est." in item[label]  # the label says so already
    estimated = ("（估算）" if zh else " (estimated)") if item.get("estimated") and not said else ""
    if item.get("confidence") is not None:  # heard by a model: how sure it was
        estimated = (
            f"（估算，把握 {item['confidence']:.2f}）" if zh else f" (estimated, confidence {item['confidence']:.2f})"
        )
    return f"{item[label]} {item['value']:g} {item['unit']}{estimated}"


def _piece(piece: dict) -> str:
    matched = f"{piece['confidence']:.0%} of the note patterns match" if piece.get("confidence") is not None else ""
    if piece["id"] is None:
        return f"free play (no piece of the repertoire matches{'; ' + matched if matched else ''})"
    by_hand = "set by hand" if piece.get("set_by_hand") else ""
    said = ", ".join(x for x in (by_hand, matched) if x)
    return f"{piece['title']}, ended in bar {piece['bar']}" + (f" ({said})" if said else "")


def _fundamentals(result: PerformanceResult) -> list[str]:
    """The notes, stops and tempo against the score, and how the two layers make the mark."""
    f = result.fundamentals or {}
    out = []
    notes = f.get("notes")
    if notes:
        out.append(
            f"notes: {notes['correct']} right of {notes['score_notes']} ({notes['accuracy_pct']:.0f} %): "
            f"{notes['wrong']} wrong, {notes['missed']} missed, {notes['extra']} extra"
            + (
                f" ({notes['as_commonly_played']} more as pianists commonly play it, not counted)"
                if notes.get("as_commonly_played")
                else ""
            )
        )
    stops = ", ".join(f"before bar {s['bar']}" if s.get("bar") else f"at {s['time_s']:.1f} s" for s in f["stops"])
    restarts = ", ".join(
        f"bar {r['from_bar']} back to bar {r['to_bar']}" if r.get("to_bar") else f"at {r['time_s']:.1f} s"
        for r in f["restarts"]
    )
    out.append(f"stops: {stops or 'none'}; restarts: {restarts or 'none'}")
    tempo = f["tempo"]
    if tempo.get("played_qpm"):
        marked = f" (marked {tempo['marked_qpm']:.0f})" if tempo.get("marked_qpm") else ""
        out.append(f"tempo: {tempo['played_qpm']:.0f} quarter notes a minute{marked}, {tempo['trend']}")
    out.append(
        f"mark {result.overall:.0f} = fundamentals {f['factor']:.2f} x {_expression_part(result.expression_mark)}"
    )
    return out


def _expression_part(expression_mark: float) -> str:
    if MARK_FLOOR == 0:
        return f"expression {expression_mark:.0f}"
    return f"({MARK_FLOOR:.0f} + {EXPRESSION_WEIGHT:.1f} x expression {expression_mark:.0f})"
