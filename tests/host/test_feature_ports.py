"""The device's numpy spectrum and mel filters, and its vendored basic-pitch note decoder, against the
libraries they replace (librosa 0.11.0, basic-pitch 0.4.0), on a FluidSynth rendering: they must agree
exactly (same arithmetic in the same order), so features and notes did not move when librosa left the device."""

import warnings

import librosa  # the host-side reference (host_training/requirements.txt)
import numpy as np
import pytest
import soundfile as sf

from pianocoach.features import DEFAULT_SETTINGS as S
from pianocoach.features.audio import resample
from pianocoach.features.spectrum import hann, mel_filters, power_spectrogram
from pianocoach.note_decoder import decode_notes, local_maxima
from pianocoach.render import render_midi
from pianocoach.sample_piece import write_sample_piece
from pianocoach.transcription import SAMPLE_RATE, StreamingTranscriber


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ports")
    midi = write_sample_piece(folder / "piece.mid", seconds=16)
    audio, rate = sf.read(str(render_midi(midi, folder / "piece.wav")), dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate)


def test_mel_filters_equal_librosas():
    ours = mel_filters(S.sample_rate, S.mel_n_fft, S.mel_bands, S.mel_fmin, S.mel_fmax)
    theirs = librosa.filters.mel(
        sr=S.sample_rate, n_fft=S.mel_n_fft, n_mels=S.mel_bands, fmin=S.mel_fmin, fmax=S.mel_fmax
    )
    assert ours.dtype == np.float32 and np.array_equal(ours, theirs)


def test_power_spectrogram_equals_librosas_stft(rendered):
    noise = np.random.default_rng(1).standard_normal(S.sample_rate * 16).astype(np.float32) * 0.1
    for signal in (rendered, noise, rendered[: S.mel_n_fft + 5 * S.mel_hop]):
        ours = power_spectrogram(signal, S.mel_n_fft, S.mel_hop)
        theirs = np.abs(librosa.stft(signal, n_fft=S.mel_n_fft, hop_length=S.mel_hop, center=False)) ** 2
        assert ours.dtype == np.float32 and ours.shape == theirs.shape
        assert np.array_equal(ours, theirs)
    assert power_spectrogram(rendered, S.mel_n_fft, S.mel_hop).shape[1] > 700  # several chunks of frames


def test_hann_window_equals_scipys():
    from scipy.signal import get_window

    for n in (2048, 400, 401, 344, 2):  # the mel STFT, the beat tracker's tempogram windows
        assert np.array_equal(hann(n), get_window("hann", n, fftbins=True))


def test_local_maxima_equal_scipys_argrelmax():
    from scipy.signal import argrelmax

    values = np.random.default_rng(0).integers(0, 4, size=(50, 7)).astype(float)  # many ties
    for rows in (0, 1, 2, 3, 50):
        ours, theirs = local_maxima(values[:rows]), argrelmax(values[:rows], axis=0)
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def _posteriorgrams(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """nmp.onnx's note and onset frames of the complete model windows of ``audio`` (before any decode)."""
    transcriber = StreamingTranscriber()
    transcriber.feed(audio)
    store = transcriber._store
    note, onset = store.rows(store.start, store.end)
    return note.copy(), onset.copy()


def _both_decoders(note, onset, frame_thresh: float, min_note_len: int, infer: bool) -> tuple[list, list]:
    """The vendored decoder's events and basic-pitch's own ``output_to_notes_polyphonic``'s, as the device calls it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resampy 0.4.2 imports the deprecated pkg_resources
        from basic_pitch.note_creation import output_to_notes_polyphonic
    ours = decode_notes(note, onset, 0.5, frame_thresh, min_note_len, infer)
    theirs = output_to_notes_polyphonic(
        note.copy(),
        onset.copy(),
        onset_thresh=0.5,
        frame_thresh=frame_thresh,
        min_note_len=min_note_len,
        infer_onsets=infer,
        max_freq=None,
        min_freq=None,
        melodia_trick=True,
    )
    return ours, theirs


@pytest.mark.parametrize("infer", [True, False])
def test_vendored_decoder_gives_basic_pitchs_events(rendered, infer):
    assert S.sample_rate == SAMPLE_RATE  # the feature rate is basic-pitch's
    ours, theirs = _both_decoders(*_posteriorgrams(rendered), frame_thresh=0.3, min_note_len=11, infer=infer)
    assert len(ours) > 40 and ours == theirs


def test_vendored_decoder_breaks_ties_as_basic_pitch_does(rendered):
    """Posteriorgrams rounded to steps of 0.05: the melodia step meets many equal maxima, and must take them in
    np.argmax's order (the earliest frame, then the lowest pitch), as basic-pitch does."""
    note, onset = (np.round(a * 20) / 20 for a in _posteriorgrams(rendered))
    for frame_thresh in (0.3, 0.15):
        ours, theirs = _both_decoders(note, onset, frame_thresh=frame_thresh, min_note_len=3, infer=True)
        assert len(ours) > 40 and ours == theirs
