"""Which external files an ONNX model refers to, read from its protobuf bytes without the ``onnx`` package.

A tensor may keep its data in another file (``data_location = EXTERNAL`` and ``external_data`` entries
with a ``location``); ONNX Runtime then opens that path relative to the model (or to the working folder
when the model is given as bytes). A bundle's models must be self-contained, so the verifier refuses any
such reference before ONNX Runtime sees the model.

Only the fields that can hold tensors are read (field numbers from onnx.proto, checked against the onnx
package by ``tests/host/test_bundle_hostile_models.py``), by protobuf's parser with message types declaring those
fields alone; the walk over them is bounded in depth.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

MAX_DEPTH = 32  # subgraphs inside attributes inside subgraphs ...
DEFAULT_LOCATION, EXTERNAL = 0, 1  # TensorProto.DataLocation

# message kind -> {field number: message kind of that field}; other fields are skipped
MODEL, GRAPH, NODE, FUNCTION, ATTRIBUTE, TENSOR, SPARSE, TRAINING, ENTRY = range(9)
CHILDREN = {
    MODEL: {7: GRAPH, 20: TRAINING, 25: FUNCTION},
    TRAINING: {1: GRAPH, 2: GRAPH},
    GRAPH: {1: NODE, 5: TENSOR, 15: SPARSE},
    NODE: {5: ATTRIBUTE},
    FUNCTION: {7: NODE, 11: ATTRIBUTE},
    ATTRIBUTE: {5: TENSOR, 6: GRAPH, 10: TENSOR, 11: GRAPH, 22: SPARSE, 23: SPARSE},
    SPARSE: {1: TENSOR, 2: TENSOR},
    TENSOR: {13: ENTRY},
    ENTRY: {},
}
TENSOR_DATA_LOCATION = 14
ENTRY_KEY, ENTRY_VALUE = 1, 2


NAMES = {
    MODEL: "Model",
    GRAPH: "Graph",
    NODE: "Node",
    FUNCTION: "Function",
    ATTRIBUTE: "Attribute",
    TENSOR: "Tensor",
    SPARSE: "Sparse",
    TRAINING: "Training",
    ENTRY: "Entry",
}
# the fields that hold one message; every other field above is repeated (onnx.proto)
SINGULAR = {
    (MODEL, 7),
    (TRAINING, 1),
    (TRAINING, 2),
    (ATTRIBUTE, 5),
    (ATTRIBUTE, 6),
    (ATTRIBUTE, 22),
    (SPARSE, 1),
    (SPARSE, 2),
}


class NotOnnx(ValueError):
    """The bytes are not a protobuf message of the expected shape."""


def external_references(model: bytes) -> list[str]:
    """The ``location`` of every tensor that keeps its data outside the model (``"?"`` when a tensor is
    marked external without one)."""
    from google.protobuf.message import DecodeError

    try:
        # protobuf's C parser (upb) reads only the walked fields and skips the rest in C: a tree ensemble's millions
        # of node attributes took 2-5 s in a Python field loop, under 0.1 s here. Its recursion limit (100 messages)
        # bounds the depth.
        parsed = _message_classes()[MODEL].FromString(model)
    except (DecodeError, RecursionError) as exc:
        raise NotOnnx(str(exc) or "not a protobuf message") from None
    found: list[str] = []
    _walk(parsed, MODEL, 0, found)
    return found


def _walk(message, kind: int, depth: int, found: list[str]) -> None:
    if depth > MAX_DEPTH:
        raise NotOnnx(f"messages nested deeper than {MAX_DEPTH}")
    if kind == TENSOR:
        entries = list(message.f13)
        # external data entries mean external data, whatever the flag says; and any data_location but DEFAULT (0) is
        # taken as EXTERNAL: a proto2 enum keeps its last known value, which an int32 here would not see
        if entries or message.f14 != DEFAULT_LOCATION:
            locations = [bytes(e.f2).decode("utf-8", "replace") for e in entries if bytes(e.f1) == b"location"]
            found.append(next((x for x in locations if x), "?"))
        return
    for number, child in CHILDREN[kind].items():
        if (kind, number) in SINGULAR:
            if message.HasField(f"f{number}"):
                _walk(getattr(message, f"f{number}"), child, depth + 1, found)
        else:
            for item in getattr(message, f"f{number}"):
                _walk(item, child, depth + 1, found)


@lru_cache(maxsize=1)
def _message_classes() -> dict[int, Any]:
    """Protobuf message classes with only the walked fields (named ``f<number>``), made from :data:`CHILDREN`."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name="pianocoach_onnx_refs.proto", package="pianocoach_onnx_refs")
    proto.syntax = "proto2"
    field = descriptor_pb2.FieldDescriptorProto
    for kind, children in CHILDREN.items():
        message = proto.message_type.add(name=NAMES[kind])
        for number, child in children.items():
            label = field.LABEL_OPTIONAL if (kind, number) in SINGULAR else field.LABEL_REPEATED
            message.field.add(
                name=f"f{number}",
                number=number,
                label=label,
                type=field.TYPE_MESSAGE,
                type_name=f".pianocoach_onnx_refs.{NAMES[child]}",
            )
        if kind == TENSOR:  # TensorProto.data_location (an enum: a varint as an int32)
            message.field.add(
                name=f"f{TENSOR_DATA_LOCATION}",
                number=TENSOR_DATA_LOCATION,
                label=field.LABEL_OPTIONAL,
                type=field.TYPE_INT32,
            )
        if kind == ENTRY:  # key and value as bytes: proto2 strings are not checked for UTF-8 either
            for number in (ENTRY_KEY, ENTRY_VALUE):
                message.field.add(name=f"f{number}", number=number, label=field.LABEL_OPTIONAL, type=field.TYPE_BYTES)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        kind: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"pianocoach_onnx_refs.{name}"))
        for kind, name in NAMES.items()
    }
