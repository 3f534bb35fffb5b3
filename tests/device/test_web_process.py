"""The page's own process (``python -m pianocoach.web``, as its systemd unit runs it): lean, and never able to lose a
take, even killed in the middle of a change."""

from __future__ import annotations

import dataclasses
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from fundamentals_takes import ode_take, score_take

from pianocoach.appliance.history import History
from pianocoach.web.access import PAIRING_FILE
from pianocoach.web.bench import free_port, paired_opener, start_server

TAKES = 40


def test_reading_the_configuration_and_serving_load_no_scorer():
    """The page's process imports neither numpy nor the scorer; the configuration's copy of the block length stays
    the feature settings' own."""
    from pianocoach.appliance.config import BLOCK_SECONDS
    from pianocoach.inputs.base import BLOCK_SECONDS as FEATURE_BLOCK_SECONDS

    assert BLOCK_SECONDS == FEATURE_BLOCK_SECONDS
    code = (
        "import sys; import pianocoach.web.server, pianocoach.web.app; "
        "print(sorted(m for m in ('numpy', 'onnxruntime', 'pianocoach.scoring', 'pianocoach.features') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.fixture(scope="module")
def history_copy(tmp_path_factory, scorer):
    folder = tmp_path_factory.mktemp("kill")
    take = score_take(ode_take(folder / "take.mid"), scorer)
    history = History(folder / "history.sqlite")
    for i in range(TAKES):
        history.add(dataclasses.replace(take, overall=50 + i * 0.25), started_at=time.time() - (TAKES - i) * 3600)
    history.close()
    return folder


def csrf_of(opener, base: str, take_id: int) -> str:
    page = opener.open(f"{base}/take/{take_id}/delete").read().decode()
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_the_history_survives_the_page_being_killed_at_any_point(history_copy):
    """The page is killed (SIGKILL) while deleting takes, at random moments; each time the daemon's History opens
    the database whole (integrity check), every take not deleted is there, and the daemon can still store one."""
    rng = random.Random(0)
    path = history_copy / "history.sqlite"
    for round_ in range(6):
        port = free_port()
        server = start_server(history_copy, port)
        base = f"http://127.0.0.1:{port}"
        opener, _ = paired_opener(base, history_copy)
        before = {row["id"] for row in History(path).last(1000)}
        victim = max(before)
        token = csrf_of(opener, base, victim)
        body = urllib.parse.urlencode({"csrf": token}).encode()
        request = urllib.request.Request(f"{base}/take/{victim}/delete", data=body)
        import threading

        threading.Thread(target=lambda: _ignore_errors(opener, request), daemon=True).start()
        time.sleep(rng.uniform(0.0, 0.03) if round_ else 0.0)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        history = History(path)  # the daemon's own open (WAL recovery happens here)
        assert history.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        after = {row["id"] for row in history.last(1000)}
        assert after in (before, before - {victim}), round_  # the delete happened whole or not at all
        new_id = history.add(_any_result(history_copy), started_at=time.time())
        assert new_id in {row["id"] for row in history.last(3)}
        history.close()
        (history_copy / PAIRING_FILE).unlink(missing_ok=True)


_RESULT: dict = {}


def _any_result(folder: Path):
    if "take" not in _RESULT:
        from pianocoach.scoring import BundleScorer

        _RESULT["take"] = score_take(ode_take(folder / "again.mid"), BundleScorer())
    return _RESULT["take"]


def _ignore_errors(opener, request) -> None:
    try:
        opener.open(request, timeout=5).read()
    except (urllib.error.URLError, ConnectionError, OSError):
        pass  # the server was killed under it


def test_the_service_command_prints_a_pairing_code_for_a_device_without_display(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pianocoach.web", "--data-dir", str(tmp_path), "--print-pairing-code"],
        capture_output=True,
        text=True,
        check=True,
    )
    code = json.loads((tmp_path / PAIRING_FILE).read_text())["code"]
    assert f"pairing code: {code}" in run.stdout
    assert (tmp_path / PAIRING_FILE).stat().st_mode & 0o077 == 0  # the owner's only
    db_missing = not (tmp_path / "history.sqlite").exists()
    assert db_missing  # printing a code touches no history


def test_a_history_that_is_not_there_yet_is_said_so(tmp_path):
    port = free_port()
    server = start_server(tmp_path, port)
    try:
        opener, _ = paired_opener(f"http://127.0.0.1:{port}", tmp_path)
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(f"http://127.0.0.1:{port}/history")
        assert refused.value.code == 503 and "No history yet" in refused.value.read().decode()
        assert not (tmp_path / "history.sqlite").exists()  # reading never creates it
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_sqlite_reads_are_read_only(history_copy):
    from pianocoach.web.history_view import HistoryView

    view = HistoryView(history_copy / "history.sqlite")
    db = view._read()
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.execute("DELETE FROM performances")
    finally:
        db.close()
