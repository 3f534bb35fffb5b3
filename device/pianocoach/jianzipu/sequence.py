"""A line of characters read in order, turned into something to play: per note the pitch, the right-hand stroke,
the string, the left hand's finger and place; in JSON and as text.

Handbooks leave out what carries over: a stopped note whose finger is not written keeps the previous note's
finger (said so in the line). A character with nothing written for the left hand is played as an open string; the
line says when the previous note was stopped, since the left hand may also stay where it was.
"""

from __future__ import annotations

from typing import Any


def playable_line(characters: list[dict[str, Any]], tuning: str = "standard") -> dict[str, Any]:
    """``characters``: explain dicts in reading order -> {"tuning", "notes": [...], "text"}."""
    notes: list[dict[str, Any]] = []
    finger = None
    previous_stopped = False
    for index, read in enumerate(characters, start=1):
        if not read.get("written"):
            why = "not read: a part the reader does not know" if read.get("outside") else "not read (unsure)"
            notes.append({"index": index, "written": None, "note": None, "rows": read.get("rows"), "said": why})
            continue
        form = read.get("form")
        said = []
        this_finger = read.get("finger")
        if form == "stopped" and this_finger is None and finger is not None:
            this_finger = finger
            said.append(f"finger {finger} carried over")
        if form == "unmarked" and previous_stopped:
            said.append("open string, unless the left hand stays where it was")
        notes.append(
            {
                "index": index,
                "written": read.get("written"),
                "note": read.get("note"),
                "frequency_hz": read.get("frequency_hz"),
                "form": form,
                "finger": this_finger,
                "hui": read.get("hui"),
                "prefix": read.get("prefix"),
                "technique": read.get("technique"),
                "string": read.get("string"),
                "ornaments": read.get("ornaments", []),
                "unsure": bool(read.get("unsure")),
                "confidence": read.get("confidence"),
                "rows": read.get("rows"),
                "said": "; ".join(said),
            }
        )
        if form == "stopped":
            finger = this_finger
        previous_stopped = form == "stopped"
    return {"tuning": tuning, "notes": notes, "text": line_text(notes)}


def line_text(notes: list[dict[str, Any]]) -> str:
    """One line per note: number, written form, pitch, what each hand does."""
    lines = []
    for n in notes:
        where = f" (rows {n['rows'][0]}-{n['rows'][1]})" if n.get("rows") else ""
        if not n.get("written"):
            lines.append(f"{n['index']:>2}. ?{where}  {n['said']}")
            continue
        pitch = (
            f"{n['note']} {n['frequency_hz']:.1f} Hz" if n.get("note") and n.get("frequency_hz") else "pitch not fixed"
        )
        right = "".join(filter(None, [n.get("prefix"), n.get("technique")])) or "no stroke"
        string = f" string {n['string']}" if n.get("string") else ""
        if n.get("form") == "stopped":
            place = f"hui {n['hui']:g}" if n.get("hui") is not None else "the previous place"
            left = f"{n.get('finger') or 'the same finger'} at {place}"
        else:
            left = {"open": "open", "harmonic": f"harmonic at hui {n.get('hui') or 0:g}", "unmarked": "open"}.get(
                str(n.get("form")), str(n.get("form"))
            )
        marks = f" + {''.join(n['ornaments'])}" if n.get("ornaments") else ""
        note = f" ({n['said']})" if n.get("said") else ""
        sure = (
            f" [{n['confidence']:.2f}{', unsure' if n.get('unsure') else ''}]"
            if n.get("confidence") is not None
            else ""
        )
        lines.append(
            f"{n['index']:>2}. {n['written']}{where}  {pitch}: {right}{string}; left hand {left}{marks}{note}{sure}"
        )
    return "\n".join(lines)
