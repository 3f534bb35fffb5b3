"""The feature-version comparison counts identical items and the largest difference per kind, NaN-aware."""

import numpy as np

from pianocoach_train.feature_versions import AUDIO_KINDS, differences


def _features(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    data = {"midi": rng.normal(size=(5, 3))}
    for i in range(2):
        for kind in AUDIO_KINDS:
            data[f"{i}:{kind}"] = rng.normal(size=(4, 2)).astype(np.float32)
    data["1:transcription"][0, 0] = np.nan  # no notes in part of a transcription
    return data


def test_identical_features_report_zero_everywhere():
    report = differences(_features(0), _features(0), performances=2)
    assert report["midi"] == {"files": 5, "identical": 5, "max_abs": 0.0}
    assert all(report[kind] == {"performances": 2, "identical": 2, "max_abs": 0.0} for kind in AUDIO_KINDS)


def test_a_changed_value_and_a_moved_nan_are_found():
    ours, theirs = _features(0), _features(0)
    theirs["midi"][2, 1] += 0.25
    theirs["0:mel"][3, 1] += 1.5
    theirs["1:transcription"][0, 0] = 1.0  # a NaN on one side only
    report = differences(ours, theirs, performances=2)
    assert report["midi"]["identical"] == 4 and abs(report["midi"]["max_abs"] - 0.25) < 1e-12
    assert report["mel"]["identical"] == 1 and abs(report["mel"]["max_abs"] - 1.5) < 1e-6
    assert report["transcription"]["identical"] == 1 and report["transcription"]["max_abs"] == np.inf
