"""pytest puts this folder on sys.path because this file is here, so tests can import midi_helpers.

Every test starts with its own empty trust folder (``PIANOCOACH_TRUSTED_KEYS``), so no test reads or
depends on the machine's ``/etc/pianocoach/trusted_keys``; ``bundle_helpers.trust`` adds a key to it.
"""

import pytest

from pianocoach.bundle.trust import TRUST_DIR_ENV


@pytest.fixture(autouse=True)
def own_trust_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(TRUST_DIR_ENV, str(tmp_path / "trusted_keys"))
