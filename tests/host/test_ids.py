import pytest

from pianocoach_train.percepiano.ids import IdError, normalise_id, parse_id


def test_leading_space_file_name():
    perf = parse_id(" Schubert_D935_no.3_4bars_2_1.mid")
    assert perf.id == "Schubert_D935_no.3_4bars_2_1"
    assert (perf.work, perf.passage, perf.bars, perf.performer, perf.segment) == ("Schubert_D935_no.3", "", 4, "2", "1")


def test_performer_is_second_to_last_token():
    perf = parse_id("Schubert_D960_mv3_8bars_2_34")
    assert (perf.work, perf.bars, perf.performer, perf.segment) == ("Schubert_D960_mv3", 8, "2", "34")


def test_variation_is_the_passage_not_the_work():
    perf = parse_id("Beethoven_WoO80_var27_8bars_3_15")
    assert (perf.work, perf.passage, perf.performer, perf.segment) == ("Beethoven_WoO80", "var27", "3", "15")
    assert perf.passage_key == ("Beethoven_WoO80", "var27", 8, "15")


def test_score_renders():
    perf = parse_id("Beethoven_WoO80_var15_8bars_Score2_10")
    assert perf.performer == "Score2" and perf.is_score_render
    assert not parse_id("Schubert_D960_mv2_16bars_0_01").is_score_render


def test_leading_zero_segments_are_kept_as_text():
    assert parse_id("Schubert_D960_mv2_16bars_0_01").segment == "01"


@pytest.mark.parametrize(
    "bad", ["", "Schubert_D960_mv2", "Mozart_K331_8bars_1_1", "Beethoven_WoO80_thema_eightbars_1_1"]
)
def test_bad_ids(bad):
    with pytest.raises(IdError):
        parse_id(bad)


def test_normalise_id():
    assert normalise_id("  x_8bars_1_2.mid ") == "x_8bars_1_2"
