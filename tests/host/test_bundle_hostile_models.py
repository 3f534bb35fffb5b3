"""Hostile models inside correctly signed bundles (made with the onnx package, so host side): the ONNX
field numbers the device's external-data scanner walks are onnx's own; a model whose external data hides
in a subgraph is found; and a bundle whose microphone scorer returns NaN fails its health check and is
not installed (the audit's bundle marked every audio take 0/100)."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import onnx
import pytest
from bundle_helpers import resign, trust
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from onnx import TensorProto, helper, numpy_helper

from pianocoach.bundle import DEFAULT_BUNDLE, verify_bundle
from pianocoach.bundle.onnx_refs import (
    CHILDREN,
    ENTRY,
    ENTRY_KEY,
    ENTRY_VALUE,
    MODEL,
    SINGULAR,
    TENSOR,
    TENSOR_DATA_LOCATION,
    external_references,
)
from pianocoach.bundle.store import BundleStore, InstallError

PROTOS = {
    0: onnx.ModelProto,
    1: onnx.GraphProto,
    2: onnx.NodeProto,
    3: onnx.FunctionProto,
    4: onnx.AttributeProto,
    5: onnx.TensorProto,
    6: onnx.SparseTensorProto,
    7: onnx.TrainingInfoProto,
    8: onnx.StringStringEntryProto,
}


def test_the_scanned_field_numbers_are_the_onnx_schema():
    for kind, children in CHILDREN.items():
        fields = {f.number: f for f in PROTOS[kind].DESCRIPTOR.fields}
        for number, child in children.items():
            assert fields[number].message_type is PROTOS[child].DESCRIPTOR, (PROTOS[kind], number)
        # every field of the message that can hold a tensor, a graph or a node is walked
        walked = {
            f.number
            for f in PROTOS[kind].DESCRIPTOR.fields
            if f.message_type in {PROTOS[k].DESCRIPTOR for k in (1, 2, 3, 4, 5, 6, 7)}
        }
        assert walked <= set(children), (PROTOS[kind].DESCRIPTOR.name, walked - set(children))
        for number in children:  # the scanner's message types repeat the fields onnx repeats
            repeated = fields[number].is_repeated
            assert repeated == ((kind, number) not in SINGULAR), (PROTOS[kind].DESCRIPTOR.name, number)
    assert MODEL == 0 and TENSOR == 5 and ENTRY == 8
    tensor = {f.name: f.number for f in onnx.TensorProto.DESCRIPTOR.fields}
    assert tensor["data_location"] == TENSOR_DATA_LOCATION and tensor["external_data"] == 13
    entry = {f.name: f.number for f in onnx.StringStringEntryProto.DESCRIPTOR.fields}
    assert (entry["key"], entry["value"]) == (ENTRY_KEY, ENTRY_VALUE)


def test_external_data_in_a_subgraph_is_found(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    weights = numpy_helper.from_array(np.ones(4096, np.float32), "w")
    branch = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "then", [], [y], [weights])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "else", [], [y])
    cond = numpy_helper.from_array(np.array(True), "c")
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=other)], "g", [x], [y], [cond]
    )
    model = helper.make_model(graph)
    assert external_references(model.SerializeToString()) == []
    # (onnx refuses to write a location with "..": a hand-made file can, see tests/device/test_bundle_hostile.py)
    onnx.save(model, tmp_path / "m.onnx", save_as_external_data=True, location="secret.bin", size_threshold=0)
    # two tensors keep their data there: the condition in the graph and the weights inside the If's branch
    assert external_references((tmp_path / "m.onnx").read_bytes()) == ["secret.bin", "secret.bin"]


def test_what_is_not_an_onnx_model_or_nests_too_deep_is_refused_with_a_reason():
    from pianocoach.bundle.onnx_refs import MAX_DEPTH, NotOnnx

    # a bad wire type; a graph longer than the data; a graph's length cut off
    for garbage in (b"\x08\x07not an onnx graph", b"\x3a\xff\xff\xff\x0f", b"\x3a"):
        with pytest.raises(NotOnnx):
            external_references(garbage)
    leaf = helper.make_graph([], "leaf", [], [])
    graph = leaf
    for level in range(MAX_DEPTH):  # an If inside an If inside ...: a graph in an attribute of a node of a graph
        graph = helper.make_graph(
            [helper.make_node("If", ["c"], ["y"], then_branch=graph, else_branch=leaf)], f"g{level}", [], []
        )
    with pytest.raises(NotOnnx):
        external_references(helper.make_model(graph).SerializeToString())


def nan_scorer(path, inputs) -> None:
    """An ONNX model with the audio scorer's inputs whose 19 scores are NaN."""
    feeds = [helper.make_tensor_value_info(t["name"], TensorProto.FLOAT, t["shape"]) for t in inputs]
    out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 19])
    nodes = [
        helper.make_node("ReduceMean", [inputs[-1]["name"]], ["m"], axes=[1], keepdims=1),  # [batch, 1]
        helper.make_node("Mul", ["m", "nan"], ["scores"]),
    ]
    nan = numpy_helper.from_array(np.full((1, 19), np.nan, np.float32), "nan")
    model = helper.make_model(
        helper.make_graph(nodes, "nan", feeds, [out], [nan]), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8  # what opset 17 pairs with (ONNX Runtime 1.31 reads IR versions up to 13)
    onnx.save(model, path)


@pytest.mark.slow
def test_a_bundle_whose_audio_scorer_returns_nan_fails_its_health_check(tmp_path):
    key = Ed25519PrivateKey.generate()
    trust(tmp_path, key)
    store = BundleStore(tmp_path / "device" / "bundles")
    store.install(DEFAULT_BUNDLE, health_check=False)
    first = store.current()
    bundle = tmp_path / "nan-bundle"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    entry = next(m for m in manifest["models"] if m["role"] == "audio_scorer")
    model = bundle / entry["file"]
    nan_scorer(model, entry["inputs"])
    manifest["files"][entry["file"]] = {
        "sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "size": model.stat().st_size,
    }
    resign(bundle, key, bundle_id="nan-audio", files=manifest["files"])
    assert verify_bundle(bundle).ok  # well-formed, signed and trusted: only running it shows the fault
    with pytest.raises(InstallError, match=r"health check failed: .*(audio|not numbers)") as caught:
        store.install(bundle)
    assert "\n" not in str(caught.value)
    assert store.current() == first and not [p for p in store.root.iterdir() if p.name.startswith(".staging-")]


def test_a_tensor_whose_data_location_is_not_default_counts_as_external():
    """ONNX Runtime's proto2 enum keeps the last known value of a repeated data_location (1 then 5 reads as 1): the
    scanner takes anything but DEFAULT as external."""
    tensor = b"\x70\x01\x70\x05"  # data_location = EXTERNAL, then an unknown 5
    graph = b"\x2a" + bytes([len(tensor)]) + tensor  # GraphProto.initializer
    model = b"\x3a" + bytes([len(graph)]) + graph  # ModelProto.graph
    assert external_references(model) == ["?"]
    plain = b"\x70\x00"
    graph = b"\x2a" + bytes([len(plain)]) + plain
    assert external_references(b"\x3a" + bytes([len(graph)]) + graph) == []
