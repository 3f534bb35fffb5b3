"""Training with the score-relative descriptors: every PercePiano performance is aligned with its MusicXML passage,
and the vector models also learn a free-play copy of each row that has a score."""

from __future__ import annotations

import numpy as np
import pytest

from pianocoach.features import SCORE_DESCRIPTOR_NAMES, feature_vector, read_midi, without_score
from pianocoach.repertoire.store import BUILTIN_DIR
from pianocoach_train.feature_store import take_context
from pianocoach_train.models.base import FoldData, training_vectors
from pianocoach_train.paths import percepiano_root
from pianocoach_train.percepiano import PercePiano
from pianocoach_train.percepiano.passages import performance_scores
from pianocoach_train.train_config import TrainConfig


def test_the_vector_models_learn_each_row_with_its_score_and_as_free_play(synthetic_store):
    ids = synthetic_store.ids
    # the synthetic performances "play" the built-in Ode to Joy: few notes match, but the alignment is real
    synthetic_store.score_paths = {i: str(BUILTIN_DIR / "ode-to-joy.musicxml") for i in ids[: len(ids) // 2]}
    data = FoldData(synthetic_store, tuple(ids), ())
    config = TrainConfig(model="ridge", augment=True, augment_copies=1)
    x, y = training_vectors(data, config)
    plain = synthetic_store.vectors_for(ids)
    columns = [synthetic_store.settings.vector_names.index(n) for n in SCORE_DESCRIPTOR_NAMES]
    scored = np.flatnonzero(np.any(plain[:, columns] != 0, axis=1))
    assert 0 < len(scored) <= len(ids) // 2  # only performances with a score have score-relative values
    assert x.shape == (2 * len(ids) + len(scored), plain.shape[1]) and len(y) == len(x)
    free = x[2 * len(ids) :]
    assert np.array_equal(free, without_score(plain[scored])) and not free[:, columns].any()
    assert np.array_equal(y[2 * len(ids) :], synthetic_store.labels([ids[i] for i in scored]))


@pytest.mark.slow
def test_every_percepiano_performance_has_a_passage_score_and_aligns_with_it():
    root = percepiano_root()
    dataset = PercePiano.open(root)
    ids = sorted(dataset.midi_files)
    scores = performance_scores(root, ids)
    assert len(scores) == len(ids) == 1202
    ident = "Schubert_D960_mv2_8bars_1_05"
    table = read_midi(dataset.midi_files[ident])
    vector = feature_vector(table, context=take_context(table, str(scores[ident])))
    values = dict(zip(SCORE_DESCRIPTOR_NAMES, vector[-len(SCORE_DESCRIPTOR_NAMES) :]))
    assert values["score_matched_fraction"] > 0.95 and values["score_tempo_flex"] > 0
    assert values["score_articulation_ratio"] > 0 and values["score_timing_deviation_ms"] > 0
