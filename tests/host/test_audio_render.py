"""Rendering PercePiano-shaped MIDI to audio: seeded, augmented, cached with a manifest, and never with
the held-out soundfont for training."""

import numpy as np
import pytest

from pianocoach.features import DEFAULT_SETTINGS
from pianocoach_train.audio import augment
from pianocoach_train.audio.renders import RenderJob, cache_root, load_renders, render_audio, render_soundfont
from pianocoach_train.audio.soundfonts import HELD_OUT, TRAINING, SoundfontError, soundfont, training_soundfonts
from pianocoach_train.audio.synth import Synth
from pianocoach_train.percepiano import PercePiano

RATE = DEFAULT_SETTINGS.capture_rate


def _job(synthetic_root, ident, seed=0, name="timgm6mb"):
    return RenderJob(ident, str(synthetic_root / "midi" / f"{ident}.mid"), name, seed, transcribe=False)


def _first_augmented(synthetic_root, seed=0):
    """A performance whose seeded draw is not the clean one (70 % of draws augment)."""
    for path in sorted((synthetic_root / "midi").glob("*.mid")):
        job = _job(synthetic_root, path.stem, seed)
        if augment.draw(job.rng()) != augment.CLEAN:
            return job
    raise AssertionError("no augmented draw")


def test_the_same_seed_renders_the_same_audio_and_another_seed_does_not(synthetic_root):
    path = soundfont("timgm6mb").path
    job = _first_augmented(synthetic_root)
    first, drawn = render_audio(job, Synth(str(path), RATE))
    again, drawn_again = render_audio(job, Synth(str(path), RATE))
    assert drawn == drawn_again and np.array_equal(first, again)
    other, drawn_other = render_audio(
        RenderJob(job.ident, job.midi_path, job.soundfont, 1, False), Synth(str(path), RATE)
    )
    assert drawn_other != drawn
    assert len(first) > 5 * RATE and np.abs(first).max() > 1e-3


def test_the_held_out_soundfont_renders_clean_test_audio_and_is_refused_for_training(synthetic_root):
    assert HELD_OUT not in TRAINING
    with pytest.raises(SoundfontError, match="held-out"):
        training_soundfonts((*TRAINING[:1], HELD_OUT))
    job = _job(synthetic_root, sorted(p.stem for p in (synthetic_root / "midi").glob("*.mid"))[0], name=HELD_OUT)
    assert not job.augmented


def test_augmentation_hits_the_requested_snr_and_gain():
    t = np.arange(3 * RATE) / RATE
    clean = (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    assert augment.apply(clean, augment.CLEAN, RATE) is clean
    louder = augment.apply(clean, augment.AudioAugmentation(gain_db=6.0), RATE)
    assert np.abs(louder).max() / np.abs(clean).max() == pytest.approx(10 ** (6 / 20), rel=1e-3)
    noisy = augment.apply(clean, augment.AudioAugmentation(snr_db=20.0, noise_seed=3), RATE)
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((noisy - clean).astype(np.float64) ** 2))
    assert snr == pytest.approx(20.0, abs=0.5)
    roomy = augment.apply(clean, augment.AudioAugmentation(rt60_s=0.6, noise_seed=1), RATE)
    assert roomy.shape == clean.shape and not np.allclose(roomy, clean, atol=1e-3)
    ir = augment.room_impulse(0.6, RATE, np.random.default_rng(0))
    tail = ir[int(0.55 * RATE) : int(0.6 * RATE)]
    assert 20 * np.log10(np.abs(tail).max() / np.abs(ir).max()) < -40  # decayed by the rt60


def test_rendering_caches_features_with_a_manifest(synthetic_root, isolated_outputs):
    dataset = PercePiano.open(synthetic_root)
    files = dict(sorted(dataset.midi_files.items())[:3])
    manifest = render_soundfont("timgm6mb", files, seed=0, transcribe=True, workers=1)
    assert set(manifest["renders"]) == set(files)
    entry = next(iter(manifest["renders"].values()))
    assert {"seed", "drawn", "audio_sha256", "duration_s", "blocks", "transcribed"} <= set(entry) and entry[
        "blocks"
    ] >= 4
    assert (cache_root() / "timgm6mb" / "manifest.json").is_file()
    arrays = load_renders("timgm6mb", list(files))
    one = next(iter(arrays.values()))
    assert one["mel"].shape[1:] == (1, DEFAULT_SETTINGS.mel_bands, 100) and one["transcription"].shape == (
        len(DEFAULT_SETTINGS.vector_names),
    )
    again = render_soundfont("timgm6mb", files, seed=0, transcribe=True, workers=1)  # all cached: nothing rendered
    assert again["renders"] == manifest["renders"]
