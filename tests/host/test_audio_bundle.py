"""A bundle with an audio scorer: the manifest's audio_path decides how a WAV is scored, the result is the
activity-weighted mean of the audio model's block scores (fused with the notes path when asked), and a
bad audio_path is refused."""

import numpy as np
import pytest

from pianocoach.bundle import DEFAULT_BUNDLE
from pianocoach.bundle.signing import TrustedKey, key_id
from pianocoach.bundle.verify import open_session
from pianocoach.errors import BundleError
from pianocoach.features.audio import performance_features
from pianocoach.inputs import open_file
from pianocoach.inputs.files import read_audio
from pianocoach.render import render_midi
from pianocoach.sample_piece import write_sample_piece
from pianocoach.scoring import BundleScorer, score_source
from pianocoach_export.bundle_writer import BundleModel, write_bundle
from pianocoach_export.signing import generate_key_pair, load_private_key
from pianocoach_train.audio.train import AUDIO_CONFIG, AudioScorer
from pianocoach_train.percepiano.labels import SCALES


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio-bundle")
    private, _ = generate_key_pair("test", folder)
    key = load_private_key(private)
    scorer = AudioScorer(AUDIO_CONFIG.with_overrides(model="hybrid", seed=1))
    scorer.net.set_labels(np.linspace(0.3, 0.7, 19), np.full(19, 0.1))
    audio_model = folder / "audio.onnx"
    audio_model.write_bytes(scorer.to_onnx().SerializeToString())
    midi = write_sample_piece(folder / "performance.mid", seconds=12)
    return {
        "key": key,
        "trusted": [TrustedKey(key_id(key.public_key()), "test", key.public_key())],
        "audio_model": audio_model,
        "wav": render_midi(midi, folder / "performance.wav"),
        "folder": folder,
    }


def build(parts, name: str, audio_path: dict | None, with_audio: bool = True):
    models = [
        BundleModel("midi_scorer", DEFAULT_BUNDLE / "models" / "midi_scorer.onnx", "blend", "int8", tuple(SCALES))
    ]
    if with_audio:
        models.append(BundleModel("audio_scorer", parts["audio_model"], "hybrid", "float32", tuple(SCALES)))
    out = parts["folder"] / name
    write_bundle(out, models, parts["key"], name, audio_path=audio_path)
    return out


def expected_audio_result(parts) -> np.ndarray:
    """The audio model over the host's batch features, blocks weighted by onset activity."""
    session = open_session(parts["audio_model"])
    blocks = performance_features(*read_audio(parts["wav"]))
    scores = np.stack([session.run(None, block.feeds())[0][0] for block in blocks])
    return np.average(scores, axis=0, weights=[b.activity for b in blocks])


@pytest.mark.slow
def test_the_audio_model_alone_scores_a_wav_as_the_manifest_says(parts):
    scorer = BundleScorer(build(parts, "audio-only", {"mode": "audio_model", "audio_weight": 1.0}), parts["trusted"])
    result = score_source(open_file(parts["wav"]), scorer)
    blocks = len(performance_features(*read_audio(parts["wav"])))
    assert result.audio_path == "audio_model" and not result.provisional and result.audio_blocks == blocks >= 7
    assert np.allclose(result.scale_values, expected_audio_result(parts), atol=2e-3)


@pytest.mark.slow
def test_fusion_mixes_the_audio_model_with_the_notes_path(parts):
    fused = score_source(
        open_file(parts["wav"]),
        BundleScorer(build(parts, "fusion", {"mode": "fusion", "audio_weight": 0.5}), parts["trusted"]),
    )
    notes = score_source(
        open_file(parts["wav"]), BundleScorer(build(parts, "notes", {"mode": "transcription"}), parts["trusted"])
    )
    assert fused.audio_path == "fusion" and notes.audio_path == "transcription" and notes.audio_blocks == 0
    expected = 0.5 * expected_audio_result(parts) + 0.5 * np.array(notes.scale_values)
    assert np.allclose(fused.scale_values, expected, atol=2e-3)
    assert notes.provisional  # the notes path here is the MIDI scorer: it never learned from transcriptions


def test_a_bundle_with_an_audio_scorer_and_no_audio_path_uses_the_audio_model(parts):
    scorer = BundleScorer(build(parts, "implicit", None), parts["trusted"])
    assert scorer.audio_path.mode == "audio_model"


@pytest.mark.parametrize(
    "audio_path, with_audio, problem",
    [
        ({"mode": "loudest"}, True, "not one of"),
        ({"mode": "fusion", "audio_weight": 1.5}, True, "within 0..1"),
        ({"mode": "fusion", "audio_weight": 0.5}, False, "needs an audio_scorer"),
    ],
)
def test_a_bad_audio_path_is_refused_with_one_clear_line(parts, audio_path, with_audio, problem):
    path = build(parts, f"bad-{problem.split()[0]}-{with_audio}", audio_path, with_audio)
    with pytest.raises(BundleError, match=problem):
        BundleScorer(path, parts["trusted"])
