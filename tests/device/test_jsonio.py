import pytest

from pianocoach.errors import InputFileError
from pianocoach.jsonio import read_json, write_json_atomic


def test_round_trip_and_no_leftovers(tmp_path):
    path = tmp_path / "sub" / "report.json"
    write_json_atomic(path, {"a": [1, 2]})
    assert read_json(path) == {"a": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "report.json"
    write_json_atomic(path, {"old": True})
    with pytest.raises(TypeError):
        write_json_atomic(path, {("tuple", "key"): 1})  # JSON keys must be strings
    assert read_json(path) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_unreadable_json_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{oops")
    with pytest.raises(InputFileError, match=r"bad.json: not a readable JSON file"):
        read_json(path)
    with pytest.raises(InputFileError, match=r"gone.json: no such file"):
        read_json(tmp_path / "gone.json")
