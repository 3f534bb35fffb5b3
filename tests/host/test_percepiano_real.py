"""The real PercePiano files in ../shared (read in place; never copied)."""

import numpy as np
import pytest
from real_data import real_percepiano

from pianocoach_train.percepiano import N_SCALES, PercePiano
from pianocoach_train.percepiano.splits import check_split


@pytest.fixture(scope="module")
def dataset():
    return PercePiano.open(real_percepiano())


def test_every_performance_has_a_file_and_a_label(dataset):
    assert len(dataset.midi_files) == 1202
    assert set(dataset.labels) == set(dataset.midi_files)
    matrix = np.stack(list(dataset.labels.values()))
    assert matrix.shape == (1202, N_SCALES)  # the 20th value (pianist index) is dropped
    assert matrix.min() >= 1 / 7 - 1e-6 and matrix.max() <= 1.0


def test_leading_space_file_is_normalised_not_missing(dataset):
    assert dataset.normalised == [(" Schubert_D935_no.3_4bars_2_1.mid", "Schubert_D935_no.3_4bars_2_1")]
    assert dataset.midi_path("Schubert_D935_no.3_4bars_2_1").name == " Schubert_D935_no.3_4bars_2_1.mid"
    assert "Schubert_D935_no.3_4bars_2_1" in dataset.labels


def test_four_works(dataset):
    assert {p.work for p in dataset.performances()} == {
        "Schubert_D960_mv2",
        "Schubert_D960_mv3",
        "Schubert_D935_no.3",
        "Beethoven_WoO80",
    }


@pytest.mark.parametrize("name, test_size", [("performer", 193), ("piece", 181), ("work", 0)])
def test_splits_are_clean(dataset, name, test_size):
    split = dataset.split(name)
    assert len(split.test) == test_size
    assert split.all_ids() == set(dataset.midi_files)
    assert check_split(split, set(dataset.midi_files), set(dataset.labels)) == []


@pytest.mark.parametrize("name", ["performer", "piece", "work"])
def test_folds_partition_the_split(dataset, name):
    split = dataset.split(name)
    validated = set()
    for k in range(4):
        fold = split.fold(k)
        train, val, test = set(fold.train), set(fold.validation), set(fold.test)
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == split.all_ids()
        validated |= val
    assert not (validated & set(split.test))


def test_piece_split_never_divides_a_passage(dataset):
    split = dataset.split("piece")
    fold = split.fold(0)

    def passages(ids):
        return {dataset_id.passage_key for dataset_id in map(_parse, ids)}

    assert not passages(fold.train) & passages(fold.test)
    assert not passages(fold.train) & passages(fold.validation)


def _parse(ident):
    from pianocoach_train.percepiano import parse_id

    return parse_id(ident)
