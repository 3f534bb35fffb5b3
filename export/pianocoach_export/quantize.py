"""INT8 with ONNX Runtime's quantization tools.

- static: QDQ format, signed int8 activations and weights, per-channel weights, min/max calibration on
  training-set inputs. ONNX Runtime's recommended first choice for convolutional and linear parts.
- dynamic: int8 weights, activations quantized at run time; for recurrent models (ONNX Runtime has no
  int8 GRU kernel, so the GRU op itself stays float, as do its surroundings).
Tree ensembles (TreeEnsembleRegressor) have no int8 kernel: they stay float inside a quantized graph.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from pianocoach.console import quiet_root_logger

log = logging.getLogger(__name__)

# The compute ops the quantizer may turn into int8; everything else stays float.
QUANTIZABLE_OPS = ("Conv", "Gemm", "MatMul")
_QDQ_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
_INTEGER_OPS = {"MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul"}
_STRUCTURE_OPS = {
    "Identity",
    "Constant",
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Reshape",
    "Concat",
    "Transpose",
    "Cast",
    "Slice",
    "ConstantOfShape",
    "Expand",
}


@dataclass(frozen=True)
class Quantized:
    method: str  # "static QDQ" or "dynamic"
    int8_ops: dict[str, int]  # compute ops that run on int8 data, by type
    float_ops: dict[str, int]  # compute ops that stayed float, by type

    def describe(self) -> str:
        def fmt(ops: dict[str, int]) -> str:
            return ", ".join(f"{op} x{n}" for op, n in sorted(ops.items())) or "none"

        return f"{self.method}; int8: {fmt(self.int8_ops)}; float: {fmt(self.float_ops)}"

    def to_dict(self) -> dict:
        return {"method": self.method, "int8_ops": self.int8_ops, "float_ops": self.float_ops}


class _Calibration:
    """ONNX Runtime's CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # not needed for one min/max pass
        pass


def quantize_model(
    float_path: Path, int8_path: Path, method: str, calibration: list[dict[str, np.ndarray]]
) -> Quantized:
    """Quantize ``float_path`` into ``int8_path`` ("static" or "dynamic") and say which ops stayed float."""
    # onnxruntime.quantization logs "consider pre-processing" to the root logger on every call; its
    # pre-processing (symbolic shape inference) does not know the ai.onnx.ml tree ops, so we skip it
    with quiet_root_logger():
        return _quantize(float_path, int8_path, method, calibration)


def _quantize(float_path: Path, int8_path: Path, method: str, calibration: list[dict[str, np.ndarray]]) -> Quantized:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    if method == "static":
        quantize_static(
            str(float_path),
            str(int8_path),
            _Calibration(calibration),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZABLE_OPS),
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        label = "static QDQ, int8 per-channel weights"
    elif method == "dynamic":
        quantize_dynamic(
            str(float_path),
            str(int8_path),
            op_types_to_quantize=list(QUANTIZABLE_OPS),
            per_channel=True,
            weight_type=QuantType.QInt8,
        )
        label = "dynamic, int8 per-channel weights"
    else:
        raise ValueError(f"unknown quantization method {method!r} (static or dynamic)")
    int8_ops, float_ops = op_precision(onnx.load(str(int8_path)))
    return Quantized(label, int8_ops, float_ops)


def op_precision(model: onnx.ModelProto) -> tuple[dict[str, int], dict[str, int]]:
    """Compute ops that run on quantized data (fed by DequantizeLinear, or integer kernels) and those that
    stayed float. Shape plumbing (Reshape, Concat, ...) and the Q/DQ nodes themselves are not counted."""
    dequantized = {out for node in model.graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    int8, floating = Counter(), Counter()
    for node in model.graph.node:
        if node.op_type in _QDQ_OPS | _STRUCTURE_OPS:
            continue
        if node.op_type in _INTEGER_OPS:
            int8[node.op_type] += 1
        elif node.op_type in QUANTIZABLE_OPS and any(i in dequantized for i in node.input[1:2]):
            int8[node.op_type] += 1
        else:
            floating[node.op_type] += 1
    return dict(int8), dict(floating)
