import numpy as np
import pytest
from sklearn.metrics import r2_score

from pianocoach_train.metrics import pairwise_accuracy, pearson_per_scale, r2_mean, r2_per_scale, summarise

Y = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [4.0, 8.0]])
P = np.array([[1.5, 2.0], [2.0, 5.0], [2.5, 6.0], [4.0, 7.0]])


def test_r2_by_hand():
    # column 0: residual 0.25+0+0.25+0 = 0.5, total 5 -> 0.9; column 1: residual 0+1+0+1 = 2, total 20 -> 0.9
    assert r2_per_scale(Y, P) == pytest.approx([0.9, 0.9])
    assert r2_mean(Y, P) == pytest.approx(0.9)
    assert r2_mean(Y, P) == pytest.approx(r2_score(Y, P))


def test_r2_matches_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(50, 19)), rng.normal(size=(50, 19))
    assert r2_mean(y, p) == pytest.approx(r2_score(y, p))
    assert r2_mean(y, np.tile(y.mean(0), (50, 1))) == pytest.approx(0.0)


def test_pearson_by_hand():
    # column 0: deviations x -1.5,-.5,.5,1.5 and p -1,-.5,0,1.5: sum xp = 4, sum xx = 5, sum pp = 3.5
    assert pearson_per_scale(Y, P)[0] == pytest.approx(4 / np.sqrt(5 * 3.5))
    assert pearson_per_scale(Y, Y * 3 + 1) == pytest.approx([1.0, 1.0])
    assert pearson_per_scale(Y, -Y) == pytest.approx([-1.0, -1.0])


def test_pairwise_accuracy_counts_only_pairs_within_a_group():
    y = np.array([[0.1], [0.5], [0.9], [0.2], [0.8]])
    p = np.array([[0.2], [0.1], [0.9], [0.3], [0.1]])
    groups = ["a", "a", "a", "b", "b"]
    # group a pairs: (0,1) true up, pred down: wrong; (0,2) right; (1,2) right. group b: (3,4) wrong.
    assert pairwise_accuracy(y, p, groups) == pytest.approx([0.5])
    # ties in the labels are not counted
    assert pairwise_accuracy(
        np.array([[0.5], [0.5], [0.1]]), np.array([[0.1], [0.2], [0.0]]), ["a", "a", "a"]
    ) == pytest.approx([1.0])
    assert np.isnan(pairwise_accuracy(y, p, ["a", "b", "c", "d", "e"])).all()


def test_summary_is_json_ready():
    summary = summarise(Y, P, ["g"] * 4)
    assert summary["n"] == 4 and summary["r2"] == pytest.approx(0.9)
    assert len(summary["r2_per_scale"]) == 2 and summary["pairwise_accuracy"] == pytest.approx(1.0)
