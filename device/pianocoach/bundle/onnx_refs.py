"""Which external files an ONNX model refers to, read from its protobuf bytes without the ``onnx`` package.

A tensor may keep its data in another file (``data_location = EXTERNAL`` and ``external_data`` entries
with a ``location``); ONNX Runtime then opens that path relative to the model (or to the working folder
when the model is given as bytes). A bundle's models must be self-contained, so the verifier refuses any
such reference before ONNX Runtime sees the model.

Only the fields that can hold tensors are walked (field numbers from onnx.proto, checked against the onnx
package by ``tests/host/test_bundle_hostile.py``); the walk is iterative in the data and bounded in depth.
"""

from __future__ import annotations

MAX_DEPTH = 32  # subgraphs inside attributes inside subgraphs ...
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL

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


class NotOnnx(ValueError):
    """The bytes are not a protobuf message of the expected shape."""


def external_references(model: bytes) -> list[str]:
    """The ``location`` of every tensor that keeps its data outside the model (``"?"`` when a tensor is
    marked external without one)."""
    found: list[str] = []
    _walk(memoryview(model), MODEL, 0, found)
    return found


def _walk(data: memoryview, kind: int, depth: int, found: list[str]) -> None:
    if depth > MAX_DEPTH:
        raise NotOnnx(f"messages nested deeper than {MAX_DEPTH}")
    children = CHILDREN[kind]
    location, key, value, external = None, None, None, False
    for number, wire, payload in _fields(data):
        if kind == TENSOR and number == TENSOR_DATA_LOCATION and wire == 0:
            external = external or payload == EXTERNAL
        elif kind == ENTRY and wire == 2 and number in (ENTRY_KEY, ENTRY_VALUE):
            text = bytes(payload).decode("utf-8", "replace")
            key, value = (text, value) if number == ENTRY_KEY else (key, text)
        elif wire == 2 and number in children:
            sub: list[str] = []
            _walk(payload, children[number], depth + 1, sub)
            if kind == TENSOR:  # an external_data entry: a key/value pair
                external = True
                location = next((s for s in sub if s), location)
            else:
                found.extend(sub)
    if kind == ENTRY:
        found.append(value if key == "location" and value else "")
    elif kind == TENSOR and external:
        found.append(location or "?")


def _fields(data: memoryview):
    """(field number, wire type, value) for each field: an int for varints, a memoryview for bytes."""
    pos, end = 0, len(data)
    value: int | memoryview | None
    while pos < end:
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        else:
            raise NotOnnx(f"wire type {wire} (groups are not ONNX)")
        if pos > end or number == 0:
            raise NotOnnx("a field runs past the end of its message")
        yield number, wire, value


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    for _ in range(10):
        if pos >= len(data):
            raise NotOnnx("the data ends inside a number")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise NotOnnx("a number longer than 10 bytes")
