"""Device fixtures: the committed default bundle's scorer (the generated performance is in tests/conftest.py).

This lane runs in a venv holding only the device package, installed as on a Pi (`make test-device`): a test that
needs torch, librosa, scipy or the host packages belongs in tests/host."""

import pytest


@pytest.fixture(scope="session")
def scorer():
    from pianocoach.scoring import BundleScorer

    return BundleScorer()  # the committed default bundle, verified
