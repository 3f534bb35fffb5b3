"""Which soundfont programmes are new pianos: the probe's spectra tell a replayed sample set from another piano."""

import numpy as np
import pytest

from pianocoach_train.audio.piano_distances import Piano, distance, fingerprint, measure, probe, write_report
from pianocoach_train.audio.soundfonts import soundfont


def test_a_louder_copy_is_the_same_piano_and_another_spectrum_is_not():
    rng = np.random.default_rng(0)
    bands = rng.normal(-40, 10, size=(24, 60))
    assert distance(bands, bands + 6.0) == 0.0  # a plain level change is removed
    other = bands + rng.normal(0, 5, size=bands.shape)
    assert distance(bands, other) == pytest.approx(distance(other, bands)) and distance(bands, other) > 2.0


def test_the_probe_tells_timgm6mbs_grand_from_its_electric_grand(tmp_path):
    path = soundfont("timgm6mb").path
    pianos = [Piano(path, 0), Piano(path, 2)]
    matrix = measure(pianos)
    assert np.allclose(np.diag(matrix), 0.0) and matrix[0, 1] == pytest.approx(matrix[1, 0])
    assert matrix[0, 1] > 5.0  # different instruments (replayed samples measure 1-2 dB)
    assert fingerprint(np.zeros(int(40 * 22050)), len(probe())).shape == (24, 60)
    report = write_report(pianos, matrix, tmp_path)
    assert [p["role"] for p in report["pianos"]] == ["training", "training"]
    assert (tmp_path / "pianos.png").stat().st_size > 10_000 and "TimGM6mb 2" in (tmp_path / "pianos.md").read_text()
