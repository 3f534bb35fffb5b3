"""The numpy beat tracker (pianocoach.features.beats) against librosa 0.11.0's
``beat_track(onset_envelope=..., sr=..., hop_length=..., units="time")``, which it ports.

The port is exact: the tempo must be the same float and the beat times the same array, on
(a) onset envelopes the audio features compute from FluidSynth renders, 8 s windows sliding over them;
(b) the descriptors' velocity-weighted onset envelopes of real PercePiano MIDI files, in 20 s windows;
(c) edge cases: one or two spikes, constant and very short envelopes, noise, ties.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import librosa  # the host-side reference (host_training/requirements.txt)
import numpy as np
import pytest

from pianocoach.features import DEFAULT_SETTINGS
from pianocoach.features import beats as port
from pianocoach.features.beats import beat_track, tempo
from pianocoach.features.spectrum import next_fast_len_real

SR = DEFAULT_SETTINGS.sample_rate
AUDIO_HOP = DEFAULT_SETTINGS.mel_hop  # 441: 50 frames a second
MIDI_HOP = DEFAULT_SETTINGS.hop_length  # 512
AUDIO_WINDOW = DEFAULT_SETTINGS.tempo_context_blocks * 100  # frames the audio features track beats over
MIDI_WINDOW_S = 20.0
BEATS_PY = Path(port.__file__)


def librosa_beat_track(envelope: np.ndarray, hop: int) -> tuple[float, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # std of a 2-frame envelope etc.
        bpm, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=SR, hop_length=hop, units="time")
    return float(np.atleast_1d(bpm)[0]), beats


def assert_same_as_librosa(envelope: np.ndarray, hop: int) -> int:
    """Exact agreement of tempo and beat times; returns the number of beats."""
    expected_bpm, expected_beats = librosa_beat_track(envelope, hop)
    bpm, beats = beat_track(envelope, sr=SR, hop_length=hop)
    assert isinstance(bpm, float)
    assert bpm == expected_bpm
    np.testing.assert_array_equal(beats, expected_beats)
    return len(beats)


# -- (a) audio onset envelopes of FluidSynth renders ------------------------------------------------------


def _percepiano_root() -> Path | None:
    from pianocoach_train.paths import percepiano_root

    root = percepiano_root()
    return root if (root / "midi").is_dir() else None


@pytest.fixture(scope="module")
def rendered_onsets(tmp_path_factory) -> dict[str, list[np.ndarray]]:
    """Per rendered performance, the onset strength of each 2 s block as the audio features compute it."""
    from pianocoach.features.audio import performance_features
    from pianocoach.inputs.files import read_audio
    from pianocoach.render import render_midi
    from pianocoach.sample_piece import write_sample_piece

    folder = tmp_path_factory.mktemp("beats_port")
    midis = [write_sample_piece(folder / "sample_piece.mid", seconds=24)]
    root = _percepiano_root()
    if root is not None:  # a few real performances too: one per work, a long clip (the 90th percentile in size)
        for work in ("Schubert_D960_mv2", "Schubert_D960_mv3", "Schubert_D935_no.3", "Beethoven_WoO80"):
            files = sorted((root / "midi").glob(f"*{work}_*.mid"), key=lambda p: (p.stat().st_size, p.name))
            if files:
                midis.append(files[int(0.9 * (len(files) - 1))])
    onsets = {}
    for midi in midis:
        wav = render_midi(midi, folder / f"{midi.stem.strip()}.wav")  # FluidSynth is installed by make setup
        audio, rate = read_audio(wav)
        onsets[midi.stem.strip()] = [block.contour[2] for block in performance_features(audio, rate)]
    return onsets


@pytest.mark.slow
def test_audio_envelopes_of_rendered_performances(rendered_onsets):
    windows = beats = 0
    for name, blocks in rendered_onsets.items():
        envelope = np.concatenate(blocks)
        assert envelope.dtype == np.float32
        # what the device tracks after each block (100, 200, 300, then 400 frames) ...
        ends = [100 * (i + 1) for i in range(len(blocks))]
        # ... and 8 s windows at other offsets
        ends += list(range(AUDIO_WINDOW + 30, len(envelope) + 1, 150))
        for end in ends:
            window = envelope[max(0, end - AUDIO_WINDOW) : end]
            if not np.any(window > 0):  # audio.rhythm does not track silence
                continue
            beats += assert_same_as_librosa(window, AUDIO_HOP)
            windows += 1
    assert windows > 50 and beats > 5 * windows


# -- (b) MIDI onset envelopes of PercePiano performances --------------------------------------------------


def _midi_windows(path: Path) -> list:
    """The tables of the 20 s windows the scoring session scores: notes begun in [end - 20 s, end) for
    an end every 2 s, keys still down at the end released there."""
    from pianocoach.features.notes import NoteTable, read_midi

    table = read_midi(path)
    windows = []
    for end in np.arange(table.start + 2.0, table.end + 2.0, 2.0):
        inside = (table.onset >= end - MIDI_WINDOW_S) & (table.onset < end)
        if inside.any():
            windows.append(
                NoteTable.from_arrays(
                    table.onset[inside],
                    np.minimum(table.offset[inside], end),
                    table.pitch[inside],
                    table.velocity[inside],
                )
            )
    return windows


def test_midi_envelopes_of_percepiano_performances():
    from pianocoach.features.descriptors import onset_envelope

    root = _percepiano_root()
    if root is None:
        pytest.skip("PercePiano not found (../shared/percepiano or $PIANOCOACH_PERCEPIANO)")
    files = sorted((root / "midi").glob("*.mid"))[::50]  # 25 performances across the four works
    windows = beats = 0
    for path in files:
        for table in _midi_windows(path):
            envelope = onset_envelope(table, DEFAULT_SETTINGS)
            if np.count_nonzero(envelope) < 2:  # descriptors.tracked_tempo does not track these
                continue
            beats += assert_same_as_librosa(envelope, MIDI_HOP)
            windows += 1
    assert windows > 100 and beats > 10 * windows


# -- (c) edge cases and synthetic envelopes ---------------------------------------------------------------


def _spikes(n: int, positions: list[int], values: list[float] | None = None) -> np.ndarray:
    envelope = np.zeros(n)
    envelope[positions] = values if values is not None else 1.0
    return envelope


RNG = np.random.default_rng(20240611)
EDGE_CASES = {
    "one spike": _spikes(400, [200]),
    "one spike at frame 1": _spikes(400, [1]),
    "one spike at the end": _spikes(400, [399]),
    "two spikes": _spikes(400, [100, 125]),
    "two spikes far apart": _spikes(860, [3, 700], [0.3, 0.9]),
    "spikes at the first and last frame": _spikes(400, [0, 399]),
    "constant float32": np.full(400, 0.7, dtype=np.float32),
    "2 frames": np.array([0.5, 1.0]),
    "3 frames": np.array([0.0, 1.0, 0.5]),
    "5 frames": RNG.random(5),
    "30 frames (0.6 s)": RNG.random(30),
    "49 frames (under 1 s)": RNG.random(49).astype(np.float32),
    "noise": RNG.random(400),
    "noise float32": RNG.random(400).astype(np.float32),
    "sparse noise": RNG.random(860) * (RNG.random(860) < 0.05),
    "integer levels (ties)": RNG.integers(0, 3, 400).astype(np.float64),
    "regular clicks": _spikes(860, list(range(7, 860, 21))),
    "long noise": RNG.random(3000),
}


@pytest.mark.parametrize("hop", [AUDIO_HOP, MIDI_HOP])
@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases(name, hop):
    assert_same_as_librosa(EDGE_CASES[name], hop)


@pytest.mark.parametrize("seed", range(6))
def test_random_envelopes(seed):
    """Noise, sparse MIDI-like spikes and jittered clicks of random lengths, float32 and float64."""
    rng = np.random.default_rng(seed)
    for trial in range(20):
        hop = (AUDIO_HOP, MIDI_HOP)[trial % 2]
        n = int(rng.integers(40, 1000))
        kind = trial % 4
        if kind == 0:
            envelope = rng.random(n) ** 3
        elif kind == 1:
            envelope = np.zeros(n)
            count = int(rng.integers(2, 80))
            np.add.at(envelope, rng.integers(0, n, count), rng.integers(1, 128, count) / 127.0)
        elif kind == 2:
            envelope = np.abs(rng.normal(0.0, 0.05, n))
            period = rng.uniform(8, 60)
            clicks = (np.arange(rng.uniform(0, period), n, period) + rng.normal(0, 1.0)).astype(int)
            envelope[clicks[(clicks >= 0) & (clicks < n)]] += rng.uniform(0.5, 2.0)
        else:
            envelope = (np.maximum(rng.normal(0.0, 1.0, n), 0.0) ** 2).astype(np.float32)
        if envelope.any():
            assert_same_as_librosa(envelope, hop)


def test_an_all_zero_envelope_has_no_tempo_and_no_beats():
    for envelope in (np.zeros(400), np.zeros(860, dtype=np.float32), np.zeros(1)):
        expected_bpm, expected_beats = librosa_beat_track(envelope, AUDIO_HOP)
        bpm, beats = beat_track(envelope, sr=SR, hop_length=AUDIO_HOP)
        assert (bpm, len(beats)) == (expected_bpm, len(expected_beats)) == (0.0, 0)


@pytest.mark.parametrize(
    "envelope",
    [_spikes(400, [0]), np.ones(400), np.array([1.0, 0.0])],
    ids=["spike at frame 0 only", "constant float64", "2 frames, spike first"],
)
def test_where_librosa_runs_off_the_array_there_are_no_beats(envelope):
    """When no local score exceeds the trim threshold (only frame 0 nonzero: librosa's local score leaves
    frame 0 out, so it is all zero; a constant float64 envelope: divided by a zero std its scores
    overflow to inf), librosa's trim loops clear every beat and then read and write past the end of
    the array (numba, no bounds check: it has returned no beats, hung, or corrupted the heap). The port
    returns librosa's tempo and no beats; librosa's beat_track is not called here."""
    bpm, beats = beat_track(envelope, sr=SR, hop_length=AUDIO_HOP)
    assert bpm == float(librosa.feature.tempo(onset_envelope=envelope, sr=SR, hop_length=AUDIO_HOP)[0])
    assert len(beats) == 0


def test_invalid_envelopes_are_refused_as_librosa_refuses_them():
    with pytest.raises(IndexError):  # librosa's localmax of one frame
        librosa_beat_track(np.ones(1), AUDIO_HOP)
    with pytest.raises(ValueError, match="2 frames"):
        beat_track(np.ones(1), sr=SR, hop_length=AUDIO_HOP)
    nan = np.ones(400)
    nan[10] = np.nan
    with pytest.raises(librosa.ParameterError):
        librosa_beat_track(nan, AUDIO_HOP)
    with pytest.raises(ValueError, match="finite"):
        beat_track(nan, sr=SR, hop_length=AUDIO_HOP)
    with pytest.raises(ValueError, match="1-D"):
        beat_track(np.ones((2, 400)), sr=SR, hop_length=AUDIO_HOP)


# -- the pieces, against librosa's own ----------------------------------------------------------------


@pytest.mark.parametrize("hop, frames", [(AUDIO_HOP, 400), (AUDIO_HOP, 150), (MIDI_HOP, 862), (MIDI_HOP, 1500)])
def test_mean_tempogram_and_tempo_are_bit_identical(hop, frames):
    rng = np.random.default_rng(frames)
    envelope = rng.random(frames) ** 4 * (rng.random(frames) < 0.3)
    win_length = int(8.0 * SR) // hop
    tg = librosa.feature.tempogram(onset_envelope=envelope, sr=SR, hop_length=hop, win_length=win_length)
    np.testing.assert_array_equal(port._mean_tempogram(envelope, win_length), np.mean(tg, axis=-1, keepdims=True))
    assert (
        tempo(envelope, sr=SR, hop_length=hop)
        == librosa.feature.tempo(onset_envelope=envelope, sr=SR, hop_length=hop)[0]
    )


def test_fft_length_is_scipys():  # the Hann window: tests/host/test_feature_ports.py
    import scipy.fft

    for target in (1, 2, 7, 97, 687, 799, 1000, 4097, 12345):
        assert next_fast_len_real(target) == scipy.fft.next_fast_len(target, real=True)


def _librosa_private(name: str):
    function = getattr(librosa.beat, name, None)
    assert function is not None, f"librosa.beat.{name} not found: the port follows librosa 0.11.0 (pinned)"
    return function


@pytest.mark.parametrize("frames_per_beat", [9.0, 12.0, 21.0, 24.0, 25.0, 27.0, 43.0, 60.0])
def test_local_score_and_dynamic_program_match_librosas_numba_code(frames_per_beat):
    """Same local scores and the same backlinks and cumulative scores, bit for bit, also where many
    predecessors tie (librosa keeps the first strictly larger score: the latest frame)."""
    local_score = _librosa_private("__beat_local_score")
    dynamic_program = _librosa_private("__beat_track_dp")
    rng = np.random.default_rng(int(frames_per_beat))
    period = np.array([frames_per_beat])
    for onsets in (
        rng.random(500) ** 4,
        (rng.random(500) < 0.05).astype(np.float64),
        np.ones(300),
        rng.integers(0, 2, 500).astype(np.float64),
    ):
        expected_score = local_score(onsets, period)
        score = port._local_score(onsets, frames_per_beat)
        np.testing.assert_array_equal(score, expected_score)
        for scores in (score, np.round(score * 4.0) / 4.0, np.zeros(200), np.ones(200)):
            expected_backlink, expected_cumscore = dynamic_program(scores, period, port.TIGHTNESS)
            backlink, cumscore = port._beat_dp(scores, frames_per_beat, port.TIGHTNESS)
            np.testing.assert_array_equal(backlink, expected_backlink)
            np.testing.assert_array_equal(cumscore, expected_cumscore)


def test_the_module_imports_nothing_but_numpy():
    """beats.py on its own, so that the check is about this file and not the package's other modules."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('beats', {str(BEATS_PY)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "import numpy as np\n"
        "bpm, beats = module.beat_track(np.random.default_rng(0).random(400), sr=22050, hop_length=441)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('librosa', 'numba', 'llvmlite', 'scipy'))\n"
        "print(heavy)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
