"""Bundles built by export and checked by the device's verify-bundle: intact, and tampered every way
the issue names (changed byte, missing file, newer schema, other feature code, wrong signature,
shapes that differ from the manifest)."""

import dataclasses
import os
import stat
import subprocess
import sys
import tarfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pianocoach.bundle import Manifest, load_verified, verify_bundle
from pianocoach.bundle.signing import load_public_key, trusted_keys
from pianocoach.errors import BundleRejected, SigningKeyError
from pianocoach.features import DEFAULT_SETTINGS, FeatureSettings
from pianocoach_export.bundle_writer import BundleModel, pack, write_bundle
from pianocoach_export.signing import development_key, generate_key_pair, load_private_key, sign
from pianocoach_train.models import load_scorer
from pianocoach_train.percepiano.labels import SCALES
from pianocoach_train.release import train_release
from pianocoach_train.train_config import TrainConfig


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    private, public = generate_key_pair("test", folder)
    other_private, _ = generate_key_pair("other", folder)
    return {"private": load_private_key(private), "public": public, "other": load_private_key(other_private)}


@pytest.fixture
def model_file(synthetic_store, tmp_path):
    run_dir = train_release(TrainConfig(model="mlp", epochs=3), synthetic_store, tmp_path / "release", progress=False)
    path = tmp_path / "mlp.onnx"
    path.write_bytes(load_scorer(run_dir).to_onnx().SerializeToString())
    return path


@pytest.fixture
def bundle(model_file, keys, tmp_path):
    model = BundleModel("midi_scorer", model_file, "mlp", "float32", tuple(SCALES), {"r2": 0.5}, {"split": "performer"})
    out = tmp_path / "bundle"
    write_bundle(out, [model], keys["private"], "test-bundle", tmp_path / "bundle.tar")
    return out


def linear_model(n_features: int) -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.zeros((n_features, 19), np.float32), "weight")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "weight"], ["scores"])],
        "linear",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 19])],
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def trusted(keys):
    return [load_public_key(keys["public"])]


def problems(path, keys):
    return verify_bundle(path, trusted(keys)).problems


def resign(bundle_dir, manifest: Manifest, key):
    raw = manifest.to_bytes()
    (bundle_dir / "manifest.json").write_bytes(raw)
    (bundle_dir / "signature.json").write_bytes(sign(raw, key))


def test_an_intact_bundle_verifies_as_folder_and_archive(bundle, keys, tmp_path):
    result = verify_bundle(bundle, trusted(keys))
    assert result.ok, result.problems
    model = result.manifest.model("midi_scorer")
    assert model.labels == tuple(SCALES) and model.inputs[0].name == "features"
    width = len(DEFAULT_SETTINGS.vector_names)
    assert model.inputs[0].shape == ("batch", width) and model.outputs[0].describe() == "scores float32[batch, 19]"
    assert result.manifest.feature_settings_sha256 == FeatureSettings().sha256()
    assert verify_bundle(tmp_path / "bundle.tar", trusted(keys)).ok
    with tarfile.open(tmp_path / "bundle.tar") as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "models/midi_scorer.onnx", "signature.json"]


def test_a_changed_byte_is_refused(bundle, keys):
    model = bundle / "models" / "midi_scorer.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    assert problems(bundle, keys) == [
        "models/midi_scorer.onnx: sha256 differs from the manifest (changed or corrupted)"
    ]


def test_a_changed_manifest_breaks_the_signature(bundle, keys):
    text = (bundle / "manifest.json").read_text().replace('"r2": 0.5', '"r2": 0.9')
    (bundle / "manifest.json").write_text(text)
    [problem] = problems(bundle, keys)
    assert problem.startswith("signature does not match manifest.json")


def test_a_missing_file_is_refused(bundle, keys):
    (bundle / "models" / "midi_scorer.onnx").unlink()
    assert problems(bundle, keys) == ["missing file models/midi_scorer.onnx"]


def test_an_unsigned_bundle_and_an_extra_file_are_refused(bundle, keys):
    (bundle / "models" / "extra.onnx").write_bytes(b"not listed")
    assert problems(bundle, keys) == ["unexpected file models/extra.onnx (not in the manifest)"]
    (bundle / "signature.json").unlink()
    # the signature is checked first and its problem stops everything: nothing else of it is read
    assert problems(bundle, keys) == ["missing signature.json (the bundle is not signed)"]


def test_a_manifest_from_a_newer_schema_is_refused(bundle, keys):
    manifest = Manifest.read(bundle)
    resign(bundle, dataclasses.replace(manifest, schema_version=2), keys["private"])
    [problem] = problems(bundle, keys)
    assert "manifest schema 2 is newer than this device reads (1)" in problem


def test_a_feature_hash_from_other_feature_code_is_refused(bundle, keys):
    other = FeatureSettings(version=99)
    manifest = Manifest.read(bundle)
    resign(
        bundle,
        dataclasses.replace(manifest, feature_settings=other.to_dict(), feature_settings_sha256=other.sha256()),
        keys["private"],
    )
    [problem] = problems(bundle, keys)
    assert problem.startswith(f"feature settings hash {other.sha256()[:12]} differs from this device's feature code")


def test_a_signature_by_an_untrusted_key_is_refused(bundle, keys):
    resign(bundle, Manifest.read(bundle), keys["other"])
    [problem] = problems(bundle, keys)
    assert "which this device does not trust" in problem and "test " in problem


def test_an_onnx_file_whose_shapes_differ_from_the_manifest_is_refused(bundle, keys):
    model_path = bundle / "models" / "midi_scorer.onnx"
    model_path.write_bytes(linear_model(n_features=52).SerializeToString())  # a model for other features
    manifest = Manifest.read(bundle)
    from pianocoach.bundle import FileEntry, sha256_file

    files = {"models/midi_scorer.onnx": FileEntry(sha256_file(model_path), model_path.stat().st_size)}
    resign(bundle, dataclasses.replace(manifest, files=files), keys["private"])
    [problem] = problems(bundle, keys)
    assert problem == (
        "models/midi_scorer.onnx: inputs are features float32[batch, 52]; the manifest says features "
        f"float32[batch, {len(DEFAULT_SETTINGS.vector_names)}]"
    )


def test_an_archive_with_a_path_outside_the_bundle_is_refused(bundle, keys, tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        tar.add(bundle / "manifest.json", arcname="../manifest.json")
    result = verify_bundle(evil, trusted(keys))
    assert result.problems == ["the archive holds a file name that is not a plain relative path ('../manifest.json')"]
    assert not (tmp_path.parent / "manifest.json").exists()


def corrupt_and_retrain_elsewhere(bundle, keys) -> None:
    """Two problems of a signed bundle, both reported: a changed model byte and other feature code."""
    model = bundle / "models" / "midi_scorer.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    other = FeatureSettings(version=99)
    resign(
        bundle,
        dataclasses.replace(
            Manifest.read(bundle), feature_settings=other.to_dict(), feature_settings_sha256=other.sha256()
        ),
        keys["private"],
    )


def test_the_device_refuses_with_every_reason_after_the_signature(bundle, keys):
    corrupt_and_retrain_elsewhere(bundle, keys)
    with pytest.raises(BundleRejected) as caught:
        load_verified(bundle, trusted(keys))
    assert len(caught.value.problems) == 2
    assert str(caught.value) == (
        f"{bundle}: refused: models/midi_scorer.onnx: sha256 differs from the manifest "
        "(changed or corrupted) (and 1 more problem)"
    )
    (bundle / "signature.json").write_text("{}")  # a signature problem stops everything at once
    with pytest.raises(BundleRejected) as caught:
        load_verified(bundle, trusted(keys))
    assert caught.value.problems == ["signature file is malformed (KeyError)"]


def test_verify_bundle_cli_prints_one_line_per_problem(bundle, keys):
    command = [sys.executable, "-m", "pianocoach.cli", "verify-bundle", str(bundle), "--key", str(keys["public"])]
    ok = subprocess.run(command, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("models: midi_scorer (mlp, float32)")
    corrupt_and_retrain_elsewhere(bundle, keys)
    bad = subprocess.run(command, capture_output=True, text=True)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0] == f"{bundle}: models/midi_scorer.onnx: sha256 differs from the manifest (changed or corrupted)"
    assert lines[1].startswith(f"{bundle}: feature settings hash") and len(lines) == 2


def test_a_failed_build_leaves_the_old_bundle_in_place(bundle, keys, tmp_path):
    before = (bundle / "manifest.json").read_bytes()
    broken = BundleModel("midi_scorer", tmp_path / "no-such.onnx", "mlp", "float32", tuple(SCALES))
    with pytest.raises(FileNotFoundError):
        write_bundle(bundle, [broken], keys["private"], "second")
    assert (bundle / "manifest.json").read_bytes() == before
    assert [p.name for p in bundle.parent.iterdir() if p.name.startswith(".bundle")] == []


def test_pack_writes_the_files_at_the_archive_root(bundle, tmp_path):
    tar_path = pack(bundle, tmp_path / "again.tar")
    with tarfile.open(tar_path) as tar:
        assert "manifest.json" in tar.getnames()


def test_keygen_keeps_the_private_key_private_and_refuses_to_overwrite(tmp_path):
    private, public = generate_key_pair("k", tmp_path)
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert load_public_key(public).key_id == load_public_key(public).key_id
    with pytest.raises(SigningKeyError, match="exists already"):
        generate_key_pair("k", tmp_path)


def test_the_development_key_is_made_once_and_its_public_half_published(tmp_path, monkeypatch):
    monkeypatch.setenv("PIANOCOACH_KEY_DIR", str(tmp_path / "keys"))
    trusted_dir = tmp_path / "trusted"
    first = development_key(trusted_dir)
    second = development_key(trusted_dir)
    published = trusted_keys([trusted_dir])
    assert [k.name for k in published] == ["development"]
    from pianocoach.bundle.signing import key_id

    assert published[0].key_id == key_id(first.public_key()) == key_id(second.public_key())


def test_a_key_file_that_is_not_a_key_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.pub"
    path.write_text("hello")
    with pytest.raises(SigningKeyError, match=r"bad\.pub: not a PEM public key"):
        load_public_key(path)
