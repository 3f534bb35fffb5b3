"""Every scorer as one ONNX graph: torch and scikit-learn conversion at one pinned opset, compact tree
ensembles, and the average of several graphs that share one input (the blend).

Inputs and outputs are named for the device: vector scorers take ``features`` (batch, 53) and sequence
scorers ``notes`` (batch, notes, 7) with ``mask`` (batch, notes); every scorer returns ``scores`` (batch, 19).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# ONNX opset 17 (and ai.onnx.ml 3 for the tree ensembles): what the TorchScript exporter, skl2onnx 1.20
# and ONNX Runtime 1.31 all support; pinned so a model exported today opens on every device runtime.
OPSET = 17
ML_OPSET = 3
OUTPUT = "scores"
N_SCALES = 19


def torch_to_onnx(
    net, example: tuple, input_names: list[str], dynamic_axes: dict, output_names: tuple[str, ...] = (OUTPUT,)
) -> onnx.ModelProto:
    """Export with the TorchScript exporter (``dynamo=False``: the dynamo exporter needs onnxscript)."""
    import torch

    buffer = io.BytesIO()
    net.eval()
    with warnings.catch_warnings():
        # tracing warns about Python branches (the GRU's padding check) and batch sizes: expected here
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            example,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=input_names,
            output_names=list(output_names),
            dynamic_axes={**dynamic_axes, **{name: {0: "batch"} for name in output_names}},
        )
    return onnx.load_from_string(buffer.getvalue())


def sklearn_to_onnx(estimator, n_features: int) -> onnx.ModelProto:
    """A fitted regressor as ONNX-ML (input ``features``, output ``scores`` of shape (batch, 19))."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    model = to_onnx(
        estimator,
        initial_types=[("features", FloatTensorType([None, n_features]))],
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )
    _rename_output(model, OUTPUT)
    # skl2onnx declares a multi-output forest's output as (batch, 1); the real shape is (batch, 19)
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", N_SCALES]))
    compact_tree_ensembles(model)
    return model


def compact_tree_ensembles(model: onnx.ModelProto) -> None:
    """Drop tree attributes ONNX Runtime never reads, about a fifth of a tree model's bytes:
    ``nodes_hitrates`` (profiling hints) and ``nodes_missing_value_tracks_true`` when all zero (its default;
    our features never hold NaN)."""
    for node in model.graph.node:
        if node.op_type != "TreeEnsembleRegressor":
            continue
        keep = []
        for attr in node.attribute:
            if attr.name == "nodes_hitrates":
                continue
            if attr.name == "nodes_missing_value_tracks_true" and not any(attr.ints):
                continue
            keep.append(attr)
        del node.attribute[:]
        node.attribute.extend(keep)


def _rename_output(model: onnx.ModelProto, name: str) -> None:
    old = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
    model.graph.output[0].name = name


def average_models(models: list[onnx.ModelProto], input_name: str = "features") -> onnx.ModelProto:
    """One graph computing the mean of ``scores`` over models that all take ``input_name``."""
    nodes, initializers, outputs = [], [], []
    value_info = None
    for i, model in enumerate(models):
        part = onnx.compose.add_prefix(model, f"part{i}_")
        value_info = value_info or model.graph.input[0]
        nodes.append(helper.make_node("Identity", [input_name], [f"part{i}_{input_name}"], name=f"part{i}_input"))
        nodes.extend(part.graph.node)
        initializers.extend(part.graph.initializer)
        outputs.append(f"part{i}_{OUTPUT}")
    initializers.append(numpy_helper.from_array(np.array(len(models), dtype=np.float32), "part_count"))
    nodes.append(helper.make_node("Sum", outputs, ["score_sum"], name="sum_parts"))
    nodes.append(helper.make_node("Div", ["score_sum", "part_count"], [OUTPUT], name="mean_parts"))
    graph = helper.make_graph(
        nodes,
        "blend",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", _width(value_info)])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", N_SCALES])],
        initializers,
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
    merged = helper.make_model(graph, opset_imports=opsets, producer_name="pianocoach")
    merged.ir_version = min(m.ir_version for m in models)
    onnx.checker.check_model(merged)
    return merged


def _width(value_info) -> int:
    return value_info.type.tensor_type.shape.dim[1].dim_value
