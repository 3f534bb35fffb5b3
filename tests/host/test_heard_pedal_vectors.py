"""The transcription path learns from the pedal the device hears (issue 19, item 3): the vectors training reads are
the device's for the same audio, and a bundle pairs the transcription scorer with the pedal model it learned from."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from bundle_helpers import bundle_with_scorer_metrics
from long_audio_take import score_long_take
from midi_helpers import write_midi

import pianocoach.bundle
from pianocoach.bundle import Manifest
from pianocoach.errors import BundleError
from pianocoach.features import feature_vector
from pianocoach.features.audio import resample
from pianocoach.scoring.notes_stream import AudioNoteStream
from pianocoach_train.audio.heard_pedal import (
    NotHeardError,
    PedalSource,
    heard_pedal_quality,
    heard_pedal_vectors,
    pedal_source,
)
from pianocoach_train.audio.renders import (
    CAPTURE_RATE,
    RenderJob,
    cache_root,
    load_render,
    render_audio,
    render_soundfont,
    run_job,
)
from pianocoach_train.audio.soundfonts import soundfont
from pianocoach_train.audio.synth import Synth


def _pedalled_take(folder):
    """12 s of broken chords, the sustain pedal down through most of each two-bar phrase."""
    notes = [(0.25 * i, 0.25 * i + 0.2, 48 + (i * 5) % 24, 60 + (i % 4) * 10) for i in range(48)]
    path = folder / "pedalled.mid"
    write_midi(path, notes, pedal=[(0.1, 127), (5.5, 0), (6.1, 127), (11.5, 0)])
    return RenderJob("pedalled", str(path), "musescore_general", 0, transcribe=True)


def _bundle_pedal() -> PedalSource:
    """The committed bundle's pedal model (what pedal_source falls back to without artifacts/pedal)."""
    source = pedal_source()
    assert source.path.is_relative_to(pianocoach.bundle.DEFAULT_BUNDLE), source.path
    return source


def test_training_vectors_are_what_the_device_scores(isolated_outputs, tmp_path, monkeypatch):
    import pianocoach_train.audio.renders as renders

    monkeypatch.setattr(renders, "_SYNTHS", {})  # a fresh synthesiser (one that rendered before sounds different)
    job = _pedalled_take(tmp_path)
    rendered = render_soundfont(job.soundfont, {job.ident: Path(job.midi_path)}, transcribe=True, workers=1)
    rendered = rendered["renders"][job.ident]
    source = _bundle_pedal()
    learned = heard_pedal_vectors(job.soundfont, [job.ident], source, progress=False, workers=1)[job.ident]
    # the device: the same audio through the microphone path's note stream with the bundle's pedal model
    from pianocoach.scoring import BundleScorer

    audio, _ = render_audio(job, Synth(str(soundfont(job.soundfont).path), CAPTURE_RATE))  # a fresh one, as run_job's
    assert hashlib.sha256(np.round(audio * 32767).astype(np.int16).tobytes()).hexdigest() == rendered["audio_sha256"]
    stream = AudioNoteStream("take", pedal=BundleScorer().pedal_model)
    table = stream.final(resample(audio, CAPTURE_RATE))
    heard = stream.heard_pedal()
    assert table is not None and heard is not None
    assert len(heard.events) >= 2 and heard.down_share > 0.3, heard  # the pedal is heard, not only its absence
    device = feature_vector(table.with_columns(pedal_events=heard.events))
    np.testing.assert_allclose(learned, device, rtol=1e-5, atol=1e-5)
    # and the pedal changes the vector: without it the transcription says "pedal never down"
    unpedalled = load_render(job.soundfont, job.ident)["transcription"]
    assert not np.allclose(unpedalled, learned)
    # the quality report reads the same frames against the pedal the render played
    quality = heard_pedal_quality(job.soundfont, {job.ident: Path(job.midi_path)}, [job.ident], source)
    truth_share = (5.4 + 5.4) / 12.25  # the pedal is down 0.1-5.5 s and 6.1-11.5 s of about 12.25 s
    assert quality["takes"] == 1 and abs(quality["down_pct_mae"] - abs(100 * heard.down_share - 100 * truth_share)) < 5
    assert quality["f1"] > 0.7, quality
    # cached under the pedal model's sha256: a second call reads the file
    cached = list((isolated_outputs / "cache").rglob(f"heard-pedal-{source.sha256[:12]}-*.npz"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = heard_pedal_vectors(job.soundfont, [job.ident], source, progress=False, workers=1)[job.ident]
    np.testing.assert_array_equal(again, learned)
    assert cached[0].stat().st_mtime_ns == stamp  # read, not computed again
    # a render made again (other audio) is heard again, not read from the cache
    manifest_path = cache_root() / job.soundfont / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["renders"][job.ident]["audio_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    heard_pedal_vectors(job.soundfont, [job.ident], source, progress=False, workers=1)
    with np.load(cached[0]) as data:
        assert json.loads(str(data["__audio_sha256__"])) == {job.ident: "0" * 64}


def test_renders_from_before_the_heard_notes_are_refused_not_guessed(isolated_outputs, tmp_path):
    job = _pedalled_take(tmp_path)
    run_job(job)
    path = next((isolated_outputs / "cache").rglob("pedalled.npz"))
    with np.load(path) as data:
        kept = {k: data[k] for k in data.files if k not in ("heard_notes", "profile_bands")}
    np.savez(path, **kept)
    with pytest.raises(NotHeardError, match="make audio-render"):
        heard_pedal_vectors(job.soundfont, [job.ident], pedal_source(), progress=False, workers=1)


def test_a_bundle_pairs_the_transcription_scorer_with_the_pedal_model_it_learned_from(tmp_path, monkeypatch):
    from pianocoach.bundle import verify_bundle
    from pianocoach.errors import BundleRejected
    from pianocoach.features.pedal_frames import PEDAL_EVENTS_VERSION
    from pianocoach.scoring import BundleScorer
    from pianocoach_export.bundle_assembly import pairing_problem, write_verified

    manifest = Manifest.read(pianocoach.bundle.DEFAULT_BUNDLE)
    pedal_sha = manifest.files[manifest.model("pedal").file].sha256
    metrics = {k: v for k, v in manifest.model("transcription_scorer").metrics.items() if k != "heard_pedal"}
    learned = {"pedal_sha256": pedal_sha, "events_version": PEDAL_EVENTS_VERSION}
    paired, _ = bundle_with_scorer_metrics(tmp_path, monkeypatch, {**metrics, "heard_pedal": learned})
    assert BundleScorer(paired).transcription_hears_pedal
    unpaired, _ = bundle_with_scorer_metrics(tmp_path, monkeypatch, metrics)
    assert not BundleScorer(unpaired).transcription_hears_pedal
    for heard, drop, words in (
        ({**learned, "pedal_sha256": "0" * 64}, False, "learned from the pedal heard by pedal model 000000000000"),
        (learned, True, "carries no pedal model"),
        ({"sha": 1}, False, "does not name a pedal_sha256"),
        ({**learned, "pedal_sha256": "x\ny" * 16}, False, "does not name a pedal_sha256"),
        ({**learned, "events_version": PEDAL_EVENTS_VERSION + 1}, False, "pedal events version"),
    ):
        folder, models = bundle_with_scorer_metrics(
            tmp_path, monkeypatch, {**metrics, "heard_pedal": heard}, ("pedal",) if drop else ()
        )
        check = verify_bundle(folder)  # the install's verification refuses it, before any model is opened
        assert not check.ok and any(words in p for p in check.problems), check.problems
        with pytest.raises(BundleError, match=words):
            BundleScorer(folder)
        if "events" not in words and "name" not in words:  # the exporter refuses to write it in the first place
            assert pairing_problem(models)
            with pytest.raises(BundleRejected, match="make bundle-transcription"):
                write_verified(models, None, tmp_path / "never", None, "test-never")
            assert not (tmp_path / "never").exists()
    assert json.loads((paired / "manifest.json").read_text())["bundle_id"].startswith("test")


def _paired_bundle(tmp_path, monkeypatch):
    """The default bundle with its transcription scorer stating that it learned from the bundle's pedal model's pedal
    (the scorer is the shipped one: what is tested is what the device feeds it, not its accuracy)."""
    from pianocoach.features.pedal_frames import PEDAL_EVENTS_VERSION

    manifest = Manifest.read(pianocoach.bundle.DEFAULT_BUNDLE)
    learned = {
        "pedal_sha256": manifest.files[manifest.model("pedal").file].sha256,
        "events_version": PEDAL_EVENTS_VERSION,
    }
    metrics = dict(manifest.model("transcription_scorer").metrics)
    return bundle_with_scorer_metrics(tmp_path, monkeypatch, {**metrics, "heard_pedal": learned})[0]


UNHEARD = "the sustain pedal could not be heard"


def test_a_microphone_take_is_scored_with_the_pedal_its_scorer_learned_from(performance, tmp_path, monkeypatch):
    from pianocoach.inputs import AudioFileSource, MidiFileSource
    from pianocoach.scoring import BundleScorer, score_source

    def score(scorer, path=performance["wav"]):
        return score_source(AudioFileSource(path, block_seconds=2.0), scorer)

    scorer = BundleScorer(_paired_bundle(tmp_path, monkeypatch))
    assert scorer.transcription_hears_pedal
    heard = score(scorer)
    assert not any(UNHEARD in w for w in heard.warnings), heard.warnings
    notes_alone = score(BundleScorer())  # the default bundle: its scorer learned without the heard pedal
    assert heard.scale_values != notes_alone.scale_values  # the pedal reached the scorer
    assert heard.measures == notes_alone.measures  # what is shown does not depend on the scorer
    scorer.pedal_model = None  # as when the pedal model fails on a take: scored on its notes alone, and said so
    unheard = score(scorer)
    assert any(UNHEARD in w for w in unheard.warnings) and unheard.scale_values == notes_alone.scale_values
    midi = score_source(MidiFileSource(performance["midi"]), scorer)
    assert not any(UNHEARD in w for w in midi.warnings)  # a MIDI take's pedal is read, not heard


@pytest.mark.slow
def test_a_long_take_s_windows_settle_with_their_heard_pedal_while_playing(performance, tmp_path, monkeypatch):
    """Past the whole-take length (lowered to 10 s here) a window is scored once its notes and its heard pedal are final
    (the pedal model runs about 12 s behind), so the end re-scores a bounded number of windows, not every one."""
    from pianocoach.scoring import BundleScorer

    scorer = BundleScorer(_paired_bundle(tmp_path, monkeypatch))
    session, result = score_long_take(performance["wav"], scorer, pedal=scorer.pedal_model)
    assert result.windows >= 28 and not any(UNHEARD in w for w in result.warnings)
    assert session.rescored_at_end <= 16, (session.rescored_at_end, result.windows)  # the last ~30 s, not all


def test_a_new_pedal_model_is_refused_where_the_transcription_scorer_learned_from_another(
    isolated_outputs, tmp_path, monkeypatch
):
    """``make bundle-pedal`` into a bundle whose transcription scorer learned from the pedal model it carries: another
    pedal model is refused before anything is written; the same graph newly measured goes in."""
    import pianocoach.bundle.signing
    from pianocoach_export.pedal_export import PedalModelRefused, add_to_default_bundle
    from pianocoach_train.pedal_model import network, to_onnx, write_model

    paired = _paired_bundle(tmp_path, monkeypatch)
    monkeypatch.setattr(pianocoach.bundle, "DEFAULT_BUNDLE", paired)
    monkeypatch.setattr(pianocoach.bundle.signing, "PACKAGED_KEYS", tmp_path / "trust")  # the test key signed it
    before = Manifest.read(paired)
    pedal = before.model("pedal")
    folder = isolated_outputs / "artifacts" / "pedal"
    write_model(to_onnx(network()), {**pedal.metrics, "architecture": "untrained", "precision": "float32"}, folder)
    with pytest.raises(PedalModelRefused, match="make bundle-transcription"):
        add_to_default_bundle(tmp_path / "keys" / "test.key")
    assert Manifest.read(paired).bundle_id == before.bundle_id  # nothing written
    shutil.copy(paired / pedal.file, folder / "pedal.onnx")
    add_to_default_bundle(tmp_path / "keys" / "test.key")
    after = Manifest.read(paired)
    assert after.bundle_id != before.bundle_id and after.learned_heard_pedal()
