"""The sustain pedal heard in a microphone take (issue 19, item 1): the pedal model runs in chunks exactly as over the
whole take and in bounded memory, its probabilities become CC64 events, and a bundle's pedal model is checked before
it is used."""

from __future__ import annotations

import numpy as np
import pytest

from pianocoach.features.pedal_frames import (
    CHUNK_FRAMES,
    CONTEXT_FRAMES,
    FRAME_S,
    MIN_RUN_FRAMES,
    PEDAL_FRAMES_VERSION,
    PedalTracker,
    confidence,
    down_frames,
    frame_times,
    pedal_events,
    settled_events,
)
from pianocoach.features.sound_profile import MEL_BANDS, SoundProfile
from pianocoach.scoring.pedal_model import PedalModel, PedalModelError, pedal_from_probabilities


def _moving(bands: np.ndarray, reach: int) -> np.ndarray:
    """A stand-in model with a known reach: each frame's probability from the loudest band within ``reach``
    frames on either side and its own level (zero padding at the take's ends, as a convolution)."""
    level = bands[0].max(axis=0)
    padded = np.concatenate([np.full(reach, -200.0), level, np.full(reach, -200.0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * reach + 1)
    return 1 / (1 + np.exp(-(level - windows.max(axis=1) + 10) / 5))


def _fed(run, bands: np.ndarray, block: int) -> tuple[np.ndarray, int]:
    """The tracker's probabilities for ``bands`` fed ``block`` frames at a time, and the widest window it ran."""
    widths: list[int] = []

    def recorded(window: np.ndarray) -> np.ndarray:
        widths.append(window.shape[-1])
        return run(window)

    tracker = PedalTracker(recorded)
    for start in range(0, bands.shape[1], block):
        tracker.add(bands[:, start : start + block])
    return tracker.finish(), max(widths)


@pytest.mark.parametrize("block", [1, 43, 700])
def test_chunks_give_the_whole_take_s_probabilities_and_the_model_never_sees_the_whole_take(block):
    rng = np.random.default_rng(3)
    bands = (rng.normal(-40, 15, (MEL_BANDS, 2000)) + 20 * np.sin(np.arange(2000) / 30)).astype(np.float32)
    run = lambda b: _moving(b, CONTEXT_FRAMES)  # noqa: E731
    whole = run(bands[None])
    fed, most = _fed(run, bands, block)
    assert len(fed) == bands.shape[1]
    np.testing.assert_allclose(fed, whole, atol=1e-6)
    assert most <= CHUNK_FRAMES + 2 * CONTEXT_FRAMES < bands.shape[1]  # never the whole take
    # the control: a model that sees further than the context differs at the chunk edges
    far = lambda b: _moving(b, CONTEXT_FRAMES + 40)  # noqa: E731
    assert not np.allclose(_fed(far, bands, 43)[0], far(bands[None]), atol=1e-6)


def test_a_short_or_empty_take_gets_a_probability_per_frame():
    run = lambda b: _moving(b, 5)  # noqa: E731
    tracker = PedalTracker(run)
    assert len(tracker.finish()) == 0
    tracker = PedalTracker(run)
    tracker.add(np.full((MEL_BANDS, 7), -30.0, np.float32))
    assert len(tracker.finish()) == 7
    with pytest.raises(RuntimeError, match="finished"):
        tracker.add(np.zeros((MEL_BANDS, 1), np.float32))


def test_probabilities_become_cc64_events_with_short_flickers_ignored():
    p = np.array([0.1, 0.9, 0.9, 0.9, 0.2, 0.9, 0.9, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1])
    down = down_frames(p)
    # the one-frame lift at 4 and the one-frame press at 10 are taken as the stretches around them
    assert down.tolist() == [False, True, True, True, True, True, True, False, False, False, False, False, False]
    events = pedal_events(p)
    np.testing.assert_allclose(events[:, 0], frame_times(len(p))[[0, 1, 7]])
    assert events[:, 1].tolist() == [0, 127, 0]
    assert frame_times(2)[1] - frame_times(2)[0] == pytest.approx(FRAME_S)
    assert confidence(np.array([0.0, 1.0])) == 1.0 and confidence(np.array([0.5, 0.5])) == 0.5
    heard = pedal_from_probabilities(p)
    assert heard.down_share == pytest.approx(6 / 13) and heard.confidence == pytest.approx(confidence(p), abs=1e-3)


def test_the_pedal_events_settled_so_far_are_those_of_the_whole_take():
    """While playing, a window is scored with the pedal heard so far once that pedal cannot change: the events before
    the settled time must be those the whole take's probabilities give (flickers merge only once they end)."""
    from pianocoach.scoring.notes_stream import changes_in_window

    rng = np.random.default_rng(3)
    for trial in range(200):
        # stretches of 1-6 frames, so single-frame flickers sit everywhere, the cut included
        values = np.repeat(rng.random(60) > 0.5, rng.integers(1, 7, 60)).astype(np.float32)
        whole = pedal_events(values)
        cut = int(rng.integers(1, len(values)))
        events, until = settled_events(values[:cut])
        if cut <= MIN_RUN_FRAMES:
            assert len(events) == 0 and until == 0.0
            continue
        for end in (until, until - 0.01, until / 2):
            so_far = events[changes_in_window(events[:, 0], None, end)]
            final = whole[changes_in_window(whole[:, 0], None, end)]
            np.testing.assert_array_equal(so_far, final, err_msg=f"trial {trial}, cut {cut}, end {end}")


def test_the_profile_gives_the_pedal_model_the_same_frames_however_the_audio_is_cut():
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.normal(size=22050 * 5)).astype(np.float32)
    whole = SoundProfile().feed(audio)
    profile = SoundProfile()
    pieces = [profile.feed(audio[i : i + 3001]) for i in range(0, len(audio), 3001)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-4)
    assert whole.shape[0] == MEL_BANDS


GOOD = {"frames_version": PEDAL_FRAMES_VERSION, "bands": MEL_BANDS, "reach_frames": 62}


class _Broken:
    """An ONNX session stand-in that fails or answers with the wrong shape (what a corrupt model could do)."""

    def __init__(self, session, answer) -> None:
        self.real, self.answer = session, answer

    def get_inputs(self):
        return self.real.get_inputs()

    def get_outputs(self):
        return self.real.get_outputs()

    def run(self, names, feeds):
        if isinstance(self.answer, Exception):
            raise self.answer
        return [self.answer]


@pytest.mark.parametrize(
    "answer",
    [
        RuntimeError("bad graph"),
        np.zeros((1, 3), np.float32),
        np.full((1, 9), np.nan, np.float32),
        np.full((1, 9), 2.0),
    ],
)
def test_a_failing_pedal_model_leaves_the_pedal_unknown_without_stopping_the_take(scorer, tmp_path, answer):
    from pianocoach.scoring.notes_stream import AudioNoteStream

    shipped = scorer.pedal_model
    assert shipped is not None  # the committed bundle hears the pedal
    model = PedalModel(_Broken(shipped.session, answer), GOOD, tmp_path)
    with pytest.raises(PedalModelError):
        model.run(np.zeros((1, MEL_BANDS, 9), np.float32))
    stream = AudioNoteStream("take.wav", pedal=model)
    stream._hear_pedal(np.zeros((MEL_BANDS, 9), np.float32))  # under a chunk: nothing run yet
    assert stream.heard_pedal() is None and stream.pedal_tracker is None


def test_the_shipped_pedal_model_gives_the_same_probabilities_in_chunks(scorer, performance):
    """The committed bundle's own graph (its INT8 scales fixed, its reach within the context): chunked as on the
    device, it gives what one run over the take gives."""
    import soundfile as sf
    import soxr

    audio, rate = sf.read(str(performance["wav"]), dtype="float32", always_2d=True)
    bands = SoundProfile().feed(soxr.resample(audio.mean(axis=1), rate, 22050))
    bands = np.concatenate([bands, bands - 12.0, bands + 6.0], axis=1)  # about 48 s: several chunks
    assert bands.shape[1] > CHUNK_FRAMES + 2 * CONTEXT_FRAMES
    run = scorer.pedal_model.run
    fed, _ = _fed(run, bands, 43)
    np.testing.assert_allclose(fed, run(bands[None]), atol=1e-5)


def test_a_pedal_model_failing_mid_take_leaves_the_pedal_unknown(scorer, tmp_path):
    from pianocoach.scoring.notes_stream import AudioNoteStream

    model = PedalModel(_Broken(scorer.pedal_model.session, RuntimeError("bad graph")), GOOD, tmp_path)
    stream = AudioNoteStream("take.wav", pedal=model)
    for _ in range(10):  # 430 frames: the model runs (and fails) while the take goes on
        stream._hear_pedal(np.full((MEL_BANDS, 43), -30.0, np.float32))
    assert stream.pedal_tracker is None and stream.heard_pedal() is None


def test_a_tracker_given_the_wrong_count_of_probabilities_leaves_the_pedal_unknown():
    from pianocoach.scoring.notes_stream import AudioNoteStream

    stream = AudioNoteStream("take.wav")
    stream.pedal_tracker = PedalTracker(lambda bands: np.zeros(3, np.float32))  # 3 values for every window
    for _ in range(10):
        stream._hear_pedal(np.full((MEL_BANDS, 43), -30.0, np.float32))
    assert stream.pedal_tracker is None and stream.heard_pedal() is None
