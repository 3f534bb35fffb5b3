"""Bundle assembly trains nothing: a trained model it needs and does not find is a one-line error naming the
missing folder and the make target that trains it, raised before anything is exported or replaced."""

import json
import os
import subprocess
import sys

import pytest

import pianocoach.bundle
from pianocoach.bundle import DEFAULT_BUNDLE, sha256_file
from pianocoach_export.bundle_assembly import assemble_default_bundle, assemble_export
from pianocoach_export.trained_models import MissingArtifactError, reader_runs, release_run
from pianocoach_train.audio.path_choice import release_models
from pianocoach_train.release import train_release
from pianocoach_train.train_config import TrainConfig


def test_a_missing_release_model_names_the_make_target(isolated_outputs):
    with pytest.raises(MissingArtifactError) as caught:
        release_run("blend")
    message = str(caught.value)
    assert message == (
        f"{isolated_outputs / 'artifacts' / 'release' / 'blend'}: no finished release model 'blend' "
        "trained on these features here (export trains nothing): run `make release-model MODEL=blend` first"
    )
    assert caught.value.target == "release-model MODEL=blend"
    # a finished run of the same config on other features (before a feature version bump) is no release model
    run_dir = isolated_outputs / "artifacts" / "release" / "blend"
    run_dir.mkdir(parents=True)
    other = {"config": TrainConfig(model="blend").to_dict(), "finished": True, "feature_settings_sha256": "0" * 64}
    (run_dir / "run.json").write_text(json.dumps(other))
    with pytest.raises(MissingArtifactError, match="trained on these features"):
        release_run("blend")
    with pytest.raises(MissingArtifactError, match=r"reader: no finished jianzipu reader .* `make jianzipu-reader`"):
        reader_runs()


def test_a_finished_release_run_is_taken_and_an_outdated_one_is_not(synthetic_store):
    run_dir = train_release(TrainConfig(model="ridge"), synthetic_store, progress=False)
    assert release_run("ridge") == run_dir
    train_release(TrainConfig(model="ridge", seed=1), synthetic_store, progress=False)  # not the default config
    with pytest.raises(MissingArtifactError, match="make release-model MODEL=ridge"):
        release_run("ridge")


def test_assembly_stops_before_exporting_or_replacing_anything(isolated_outputs, tmp_path, monkeypatch):
    monkeypatch.setattr(pianocoach.bundle, "DEFAULT_BUNDLE", tmp_path / "not-touched")
    opened = []
    with pytest.raises(MissingArtifactError, match="make release-model MODEL=blend"):
        assemble_default_bundle("blend", lambda: opened.append(1), None, reader="train", audio="keep", progress=False)
    with pytest.raises(MissingArtifactError, match="make release-model MODEL=mlp"):
        assemble_export(("mlp",), None, None, prune=False, report_dir=tmp_path / "r", report_name="x", progress=False)
    assert opened == [] and not (tmp_path / "not-touched").exists() and not (tmp_path / "r").exists()
    assert not (isolated_outputs / "artifacts" / "export").exists()


def test_make_bundle_without_a_release_model_fails_in_one_line_and_keeps_the_bundle(tmp_path):
    before = sha256_file(DEFAULT_BUNDLE / "manifest.json")
    env = {**os.environ, "PIANOCOACH_ARTIFACTS": str(tmp_path / "artifacts")}
    run = subprocess.run(
        [sys.executable, "-m", "pianocoach_export", "bundle", "--default", "--audio", "keep"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines()[-1] == (
        f"pianocoach_export: error: {tmp_path / 'artifacts' / 'release' / 'blend'}: no finished release model 'blend' "
        "trained on these features here (export trains nothing): run `make release-model MODEL=blend` first"
    )
    assert sha256_file(DEFAULT_BUNDLE / "manifest.json") == before


def test_the_audio_release_models_follow_the_chosen_path():
    assert release_models(None) == ()
    assert release_models({"mode": "audio_model", "audio_model": "m_crnn"}) == ("m_crnn",)
    assert release_models({"mode": "fusion", "audio_model": "hybrid"}) == ("hybrid", "transcription_heard_velocity")
