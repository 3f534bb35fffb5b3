"""Fixtures for host tests: a synthetic dataset (synthetic_data.py) and isolated output folders."""

import pytest
from synthetic_data import build_synthetic_dataset

from pianocoach_train.percepiano import PercePiano


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    return build_synthetic_dataset(tmp_path_factory.mktemp("percepiano"))


@pytest.fixture
def isolated_outputs(tmp_path, monkeypatch):
    """Feature cache and training runs go to a temporary folder."""
    monkeypatch.setenv("PIANOCOACH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIANOCOACH_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path


@pytest.fixture
def synthetic_store(synthetic_root, isolated_outputs):
    from pianocoach_train.feature_store import FeatureStore

    return FeatureStore(PercePiano.open(synthetic_root), workers=1)
