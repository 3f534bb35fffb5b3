import json

import pytest

from pianocoach.errors import LabelFileError
from pianocoach_train.percepiano.labels import load_labels, read_labels

GOOD = [0.5] * 19 + [3]


def write(tmp_path, data, name="mean19.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_drops_the_pianist_index(tmp_path):
    labels = load_labels(write(tmp_path, {"W_8bars_1_1": GOOD}))
    assert labels["W_8bars_1_1"].shape == (19,)


@pytest.mark.parametrize(
    "row, problem",
    [
        ([0.5] * 5, "has 5 values, expected 20"),
        ("0.5", "expected a list of 20 numbers, found str"),
        ([0.5] * 18 + ["x", 3], "value 18 is 'x'"),
        ([0.5] * 18 + [None, 3], "value 18 is None"),
    ],
)
def test_malformed_row_names_the_file_and_the_row(tmp_path, row, problem):
    path = write(tmp_path, {"ok_8bars_1_1": GOOD, "bad_8bars_1_2": row})
    with pytest.raises(LabelFileError) as info:
        load_labels(path)
    message = str(info.value)
    assert str(path) in message and "bad_8bars_1_2" in message and problem in message


def test_out_of_range_is_collected_with_the_rest(tmp_path):
    path = write(tmp_path, {"a_8bars_1_1": [1.5] + [0.5] * 18 + [0], "b_8bars_1_1": [1] * 3, "c_8bars_1_1": GOOD})
    label_set = read_labels(path)
    assert sorted(p.kind for p in label_set.problems) == ["label out of range", "malformed label row"]
    assert set(label_set.labels) == {"a_8bars_1_1", "c_8bars_1_1"}


@pytest.mark.parametrize("text, problem", [("{not json", "not a readable JSON"), ("[1, 2]", "expected a JSON object")])
def test_unreadable_label_file(tmp_path, text, problem):
    with pytest.raises(LabelFileError, match=problem):
        load_labels(write(tmp_path, text))
