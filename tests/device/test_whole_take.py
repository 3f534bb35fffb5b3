"""A take as long as the scorer's training clips is scored as one vector of the whole take, exactly as the model was
trained and evaluated; a longer one averages its windows (issue 19, item 5)."""

from __future__ import annotations

import numpy as np

from pianocoach.features import feature_vector, read_midi
from pianocoach.inputs import open_file
from pianocoach.scoring import score_source
from pianocoach.scoring.session import SessionSettings


def test_a_take_within_the_training_lengths_scores_as_its_whole_vector(performance, scorer):
    result = score_source(open_file(performance["midi"]), scorer)
    offline = scorer.score(feature_vector(read_midi(performance["midi"])), "midi")
    assert result.whole_take and result.windows >= 5  # the windows still ran (live display, fallback)
    np.testing.assert_allclose(result.scale_values, offline, rtol=0, atol=5.01e-5)  # the result keeps 4 decimals
    assert result.scale_values == result.scale_values_mean


def test_a_longer_take_averages_its_windows(performance, scorer):
    settings = SessionSettings(whole_take_max_s=10.0)  # the 16 s performance counts as long here
    windowed = score_source(open_file(performance["midi"]), scorer, settings)
    whole = score_source(open_file(performance["midi"]), scorer)
    assert not windowed.whole_take and windowed.windows == whole.windows
    assert windowed.scale_values != windowed.scale_values_mean  # weighted and plain means of different windows
    assert not np.allclose(windowed.scale_values, whole.scale_values, atol=1e-4)


def test_a_whole_take_computes_no_window_descriptors_at_the_end(performance, scorer):
    """The windows of a take scored whole are only counted at its end: their final descriptors would go unused (they
    were most of a microphone take's end-of-play time)."""
    from pianocoach.scoring import ScoringSession

    def finished(settings: SessionSettings):
        source = open_file(performance["wav"])
        session = ScoringSession(scorer, source.kind, source.name, settings)
        for block in source.blocks():
            session.add(block)
        return session, session.finish()

    whole_session, whole = finished(SessionSettings())
    windowed_session, windowed = finished(SessionSettings(whole_take_max_s=10.0))
    assert whole.whole_take and whole_session.rescored_at_end == 0
    assert not windowed.whole_take and windowed_session.rescored_at_end > 0  # the control: final notes, new windows
    assert whole.windows == windowed.windows >= 5
