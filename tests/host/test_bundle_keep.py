"""`make bundle` keeps models of the committed default bundle (the jianzipu reader; the audio path with
AUDIO=keep) only after verifying it, and says where each kept model came from."""

import shutil

import pytest

import pianocoach.bundle
from pianocoach.bundle import DEFAULT_BUNDLE, Manifest, sha256_file
from pianocoach.errors import BundleRejected
from pianocoach_export.bundle_assembly import AUDIO_ROLES
from pianocoach_export.bundle_assembly import kept_models as _kept_models
from pianocoach_export.cli import build_parser

ROLES = ("jianzipu_reader", *AUDIO_ROLES)


@pytest.mark.slow
def test_kept_models_are_the_committed_files_with_their_provenance(isolated_outputs):
    manifest = Manifest.read(DEFAULT_BUNDLE)
    kept, audio_path = _kept_models(ROLES)
    assert audio_path == manifest.audio_path
    for role in ROLES:
        entry = next(m for m in manifest.models if m.role == role)
        model = kept[role]
        assert model.source.is_relative_to(isolated_outputs / "artifacts")  # copied out of the bundle
        assert sha256_file(model.source) == manifest.files[entry.file].sha256
        # a model kept before keeps the bundle and the features it was first trained with
        first = entry.provenance.get("kept_from_bundle", manifest.bundle_id)
        assert model.provenance["kept_from_bundle"] == first
        assert model.provenance["trained_on_feature_settings_sha256"] == entry.provenance.get(
            "trained_on_feature_settings_sha256", manifest.feature_settings_sha256
        )
        assert {k: v for k, v in model.provenance.items() if k in entry.provenance} == entry.provenance
        assert (model.architecture, model.precision, model.labels) == (
            entry.architecture,
            entry.precision,
            tuple(entry.labels),
        )


def test_a_tampered_bundle_is_refused_and_nothing_is_kept(isolated_outputs, tmp_path, monkeypatch):
    copy = shutil.copytree(DEFAULT_BUNDLE, tmp_path / "bundle")
    model = copy / next(m.file for m in Manifest.read(copy).models if m.role == "jianzipu_reader")
    data = bytearray(model.read_bytes())
    data[-1] ^= 1
    model.write_bytes(bytes(data))
    monkeypatch.setattr(pianocoach.bundle, "DEFAULT_BUNDLE", copy)
    with pytest.raises(BundleRejected, match="sha256"):
        _kept_models(ROLES)
    assert not (isolated_outputs / "artifacts").exists()


def test_make_bundle_keeps_the_reader_and_trains_the_audio_path_by_default():
    args = build_parser().parse_args(["bundle", "--default"])
    assert (args.reader, args.audio) == ("keep", "train")
