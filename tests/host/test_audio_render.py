"""Rendering PercePiano-shaped MIDI to audio: seeded, augmented, cached with a manifest, and never with
the held-out soundfont for training."""

import numpy as np
import pytest

from pianocoach.features import DEFAULT_SETTINGS
from pianocoach_train.audio import augment
from pianocoach_train.audio.renders import (
    RenderJob,
    cache_root,
    load_renders,
    played_table,
    render_audio,
    render_soundfont,
)
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


def _level_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(audio, dtype=np.float64) ** 2)))


def _band_db(audio: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(np.asarray(audio, dtype=np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    return float(10 * np.log10(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum()))


def test_a_phone_hears_a_narrow_band_compressed_and_levelled():
    rng = np.random.default_rng(0)
    quiet_then_loud = rng.standard_normal(6 * RATE) * np.r_[np.full(3 * RATE, 0.02), np.full(3 * RATE, 0.2)]
    phone = augment.AudioAugmentation(
        microphone="phone",
        highpass_hz=300.0,
        lowpass_hz=3400.0,
        compress_threshold_db=-30.0,
        compress_ratio=6.0,
        agc_s=0.5,
        noise_seed=1,
    )
    heard = augment.apply(quiet_then_loud.astype(np.float32), phone, RATE)
    # the band: what lies above 6 kHz is 30+ dB further down than in the input
    cut = (_band_db(quiet_then_loud, 6000, 20000) - _band_db(quiet_then_loud, 500, 3000)) - (
        _band_db(heard, 6000, 20000) - _band_db(heard, 500, 3000)
    )
    assert cut > 30
    # 20 dB between the halves in the room, a few dB once the compressor and the AGC have settled
    before = _level_db(quiet_then_loud[2 * RATE : 3 * RATE]) - _level_db(quiet_then_loud[5 * RATE :])
    after = _level_db(heard[2 * RATE : 3 * RATE]) - _level_db(heard[5 * RATE :])
    assert before < -19 and abs(after) < 4
    assert _level_db(heard[5 * RATE :]) == pytest.approx(augment.AGC_TARGET_DB, abs=4)


def test_the_compressor_squeezes_only_what_lies_above_its_threshold():
    t = np.arange(2 * RATE) / RATE
    tone = np.sin(2 * np.pi * 440 * t)
    loud, quiet = 0.5 * tone, 0.005 * tone  # about -9 and -49 dBFS
    for level, expected in ((loud, (-30 - (-9.0)) * (1 - 1 / 4)), (quiet, 0.0)):
        squeezed = augment.compress(level, -30.0, 4.0, RATE)
        change = _level_db(squeezed[RATE:]) - _level_db(level[RATE:])
        assert change == pytest.approx(expected, abs=1.0)
        # a note's attack is caught: 10-50 ms after the onset the gain is already within 1.5 dB of where it settles
        onset = _level_db(squeezed[RATE // 100 : RATE // 20]) - _level_db(level[RATE // 100 : RATE // 20])
        assert onset == pytest.approx(expected, abs=1.5)


@pytest.mark.parametrize("direct_db", [-3.0, 6.0, 15.0])
def test_the_microphone_distance_sets_the_direct_to_reverberant_ratio(direct_db):
    ir = augment.room_impulse(0.6, RATE, np.random.default_rng(4), direct_db)
    assert 10 * np.log10(ir[0] ** 2 / np.sum(ir[1:] ** 2)) == pytest.approx(direct_db, abs=0.01)


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "hum", "fan", "traffic"])
def test_background_noises_have_unit_level(kind):
    made = augment.noise(3 * RATE, kind, np.random.default_rng(2), RATE)
    assert made.shape == (3 * RATE,) and np.all(np.isfinite(made)) and _level_db(made) == pytest.approx(0.0, abs=0.01)


def test_someone_talking_in_the_room_speaks_and_pauses():
    talk = augment.noise(12 * RATE, "speech", np.random.default_rng(5), RATE)
    windows = 10 * np.log10(np.mean(talk[: len(talk) // 4410 * 4410].reshape(-1, 4410) ** 2, axis=1) + 1e-12)
    assert _level_db(talk) == pytest.approx(0.0, abs=0.01)
    assert (windows < -30).mean() > 0.05 and (windows > -10).mean() > 0.3  # pauses between words and sentences


def test_the_level_drifts_through_the_take():
    steady_tone = np.full(40 * RATE, 0.1)
    drifted = augment.drifting(steady_tone, augment.AudioAugmentation(drift_db=6.0, drift_period_s=20.0), RATE)
    assert 20 * np.log10(drifted.max() / drifted.min()) == pytest.approx(12.0, abs=0.1)


def test_draws_cover_every_microphone_and_the_sound_checks_draw_no_speech():
    from pianocoach_train.sound_check_data import AUGMENT_RANGES, TRAIN_NOISES

    rng = np.random.default_rng(0)
    drawn = [augment.draw(rng) for _ in range(400)]
    augmented = [d for d in drawn if d != augment.CLEAN]
    assert 0.6 < len(augmented) / len(drawn) < 0.8
    assert {d.microphone for d in augmented} == set(augment.MICROPHONES)
    assert all((d.agc_s is not None) == (d.microphone == "phone") for d in augmented)
    assert all((d.compress_threshold_db is None) == (d.microphone == "studio") for d in augmented)
    assert {d.noise_kind for d in augmented if d.snr_db is not None} == set(augment.AudioAugmentRanges().noise_kinds)
    checked = [augment.draw(rng, AUGMENT_RANGES) for _ in range(200)]
    assert {d.noise_kind for d in checked if d != augment.CLEAN} <= set(TRAIN_NOISES)


def test_a_programme_of_the_held_out_pianos_file_is_refused_and_programmes_render_their_own_sound(
    synthetic_root, monkeypatch
):
    from pianocoach_train.audio import soundfonts

    held = soundfonts.SOUNDFONTS[HELD_OUT]
    bright = soundfonts.Soundfont("musescore_bright", held.path, held.package, program=1)
    monkeypatch.setitem(soundfonts.SOUNDFONTS, bright.name, bright)
    with pytest.raises(SoundfontError, match="musescore_bright.*held-out"):
        training_soundfonts(("timgm6mb", "musescore_bright"))
    assert soundfonts.distinct_files(("timgm6mb", "timgm6mb_electric_grand", "csound_gm")) == ("timgm6mb", "csound_gm")
    ident = sorted(p.stem for p in (synthetic_root / "midi").glob("*.mid"))[0]
    job = _job(synthetic_root, ident, name="timgm6mb_electric_grand")
    electric, _ = render_audio(job, Synth(str(soundfont("timgm6mb").path), RATE))
    table, drawn = played_table(job)
    path = str(soundfont("timgm6mb").path)
    for program, same in ((2, True), (0, False)):
        played = augment.apply(Synth(path, RATE).render(table, program), drawn, RATE)
        assert np.array_equal(played, electric) == same


def test_renders_augmented_by_other_code_are_refused_then_made_again(synthetic_root, isolated_outputs, caplog):
    from pianocoach.jsonio import read_json, write_json_atomic
    from pianocoach_train.audio.renders import StaleRendersError, load_render, rendered_manifest

    dataset = PercePiano.open(synthetic_root)
    files = dict(sorted(dataset.midi_files.items())[:2])
    render_soundfont("timgm6mb", files, seed=0, workers=1)
    path = cache_root() / "timgm6mb" / "manifest.json"
    manifest = read_json(path)
    assert manifest["augmentation"] == augment.VERSION
    write_json_atomic(path, {**manifest, "augmentation": augment.VERSION - 1})
    with pytest.raises(StaleRendersError, match=rf"manifest\.json: rendered with augmentation {augment.VERSION - 1}"):
        rendered_manifest("timgm6mb")
    first = cache_root() / "timgm6mb" / f"{next(iter(files))}.npz"
    with np.load(first) as data:
        older = {k: data[k] for k in data.files if k != "augmentation"}  # as renders before augmentation 2 were kept
    np.savez(first, **older)
    with pytest.raises(StaleRendersError, match=rf"{first.name}: rendered with another augmentation"):
        load_render("timgm6mb", next(iter(files)))
    again = render_soundfont("timgm6mb", files, seed=0, workers=1)
    assert "rendering again with augmentation" in caplog.text and again["augmentation"] == augment.VERSION
    assert set(again["renders"]) == set(files) and load_render("timgm6mb", next(iter(files)))["mel"].size
    # the held-out soundfont's renders are clean: kept by any augmentation's code
    render_soundfont(HELD_OUT, files, seed=0, workers=1)
    clean = cache_root() / HELD_OUT / f"{next(iter(files))}.npz"
    with np.load(clean) as data:
        np.savez(clean, **{k: data[k] for k in data.files if k != "augmentation"})
    write_json_atomic(
        cache_root() / HELD_OUT / "manifest.json",
        {**read_json(cache_root() / HELD_OUT / "manifest.json"), "augmentation": 1},
    )
    assert load_render(HELD_OUT, next(iter(files)))["mel"].size and rendered_manifest(HELD_OUT)["augmentation"] == 1
