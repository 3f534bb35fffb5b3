"""What the per-note models of a bundle (the velocity and note-end models) share: one float input [notes, features],
checked when the bundle is loaded, and one finite number per note out, checked on every run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pianocoach.errors import BundleError


def note_input(session, where: Path, what: str, width: int) -> str:
    """The name of the graph's one float input [notes, ``width``]; a BundleError naming ``what`` otherwise."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) < 1:
        raise BundleError(where, f"its {what} has {len(inputs)} inputs and {len(outputs)} outputs")
    if inputs[0].type != "tensor(float)":
        raise BundleError(where, f"its {what} reads {inputs[0].type[:40]}, not a float tensor")
    shape = inputs[0].shape
    if not shape or len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != width):
        raise BundleError(where, f"its {what} reads {shape}, not [notes, {width}]")
    return inputs[0].name


def per_note(session, input_name: str, features: np.ndarray, error: type[Exception], what: str) -> np.ndarray:
    """The graph's first output for ``features`` [n, width] as n finite float64 numbers; ``error`` otherwise (a graph
    that fails, or gives another count or a non-number)."""
    try:
        out = session.run(None, {input_name: np.asarray(features, dtype=np.float32)})[0]
        values = np.asarray(out, dtype=np.float64).reshape(-1)
    except Exception as exc:  # onnxruntime raises its own exception types; a non-tensor output fails to convert
        raise error(f"the {what} failed: {str(exc)[:200]}") from exc
    if len(values) != len(features) or not np.all(np.isfinite(values)):
        raise error(f"the {what} gave {len(values)} values, not a number for each note")
    return values
