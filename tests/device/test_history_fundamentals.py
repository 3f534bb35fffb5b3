"""The history keeps the piece, the fundamentals and the bars as played; a database from before them is migrated
in place and its rows stay readable; ``pianocoach history`` shows the piece's title and the share of notes right."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest
from fundamentals_takes import ODE, ode_take, score_take

from pianocoach.appliance.history import SCHEMA_VERSION, History, format_history
from pianocoach.repertoire import read_musicxml
from pianocoach.repertoire.unfold import played_score

# the table as the first version created it (no schema version kept)
OLD_SCHEMA = """
CREATE TABLE performances (
    id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, duration_s REAL NOT NULL, source TEXT NOT NULL,
    input TEXT NOT NULL, overall REAL NOT NULL, scales TEXT NOT NULL, measures TEXT NOT NULL, feedback TEXT NOT NULL,
    language TEXT NOT NULL, bundle_id TEXT NOT NULL, warnings TEXT NOT NULL
)
"""


@pytest.fixture(scope="module")
def take(tmp_path_factory, scorer):
    return score_take(ode_take(tmp_path_factory.mktemp("take") / "take.mid"), scorer)


def old_database(path) -> None:
    db = sqlite3.connect(path)
    db.execute(OLD_SCHEMA)
    db.execute(
        "INSERT INTO performances (started_at, duration_s, source, input, overall, scales, measures, feedback, "
        "language, bundle_id, warnings) VALUES ('2025-01-02T10:00:00+00:00', 12.5, 'midi', 'old.mid', 55.0, '{}', "
        "'{}', 'Fine.', 'en', 'b1', '[]')"
    )
    db.commit()
    db.close()


def test_an_old_database_is_migrated_and_keeps_its_rows(tmp_path, take):
    path = tmp_path / "history.sqlite"
    old_database(path)
    history = History(path)
    (old,) = history.last(10)
    assert old["input"] == "old.mid" and old["piece"] is None and old["fundamentals"] is None and old["bars"] is None
    new_id = history.add(take)
    history.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = {row[1] for row in db.execute("PRAGMA table_info(performances)")}
    assert {"piece", "fundamentals", "bars", "notes", "score_notes"} <= columns
    db.close()
    again = History(path)  # opening a migrated database again changes nothing
    newest, older = again.last(10)
    assert newest["id"] == new_id and older["input"] == "old.mid" and again.count() == 2
    again.close()


def test_the_piece_fundamentals_and_per_bar_errors_are_stored(tmp_path, take):
    history = History(tmp_path / "history.sqlite")
    history.add(take)
    stored = history.latest()
    assert stored["piece"]["title"] == "Ode to Joy"
    # the fundamentals as found, with the expression mark they scale (the mark's two layers, for the web page)
    assert stored["fundamentals"] == json.loads(
        json.dumps({**take.fundamentals, "expression_mark": take.expression_mark})
    )
    layers = stored["fundamentals"]
    assert abs(layers["factor"] * layers["expression_mark"] - take.overall) < 0.1
    bar3 = next(row for row in stored["bars"] if row["bar"] == "3")
    assert len(bar3["errors"]["wrong"]) == 2 and {e["expected"] for e in bar3["errors"]["wrong"]} <= set(range(128))
    assert len(stored["bars"]) == len(take.bars) == 16
    assert "notes" not in stored and "score_notes" not in stored  # the piano roll's notes: read for one take only
    # the score's notes as due: every written note once (the take plays the piece through), each at the time its
    # note was played (a semitone off in bar 3, 2.5 s late from bar 9 on: the score is drawn where it was due)
    written = take.score_notes
    assert len(written) == len(take.played_notes) == int(played_score(read_musicxml(ODE)).chord_sizes.sum())
    assert sorted(row[0] for row in written) == sorted(row[0] for row in take.played_notes)
    history.add(dataclasses.replace(take, piece=None, fundamentals=None, bars=None, input="plain.mid"))
    rows = history.last(2)
    table = format_history(rows)
    assert "Ode to Joy (take.mid)" in table and " 98%" in table and "plain.mid" in table
    assert rows[0]["piece"] is None
    history.close()


def test_free_play_is_listed_as_free_play(tmp_path, take):
    history = History(tmp_path / "history.sqlite")
    free = {
        "mode": "free",
        "notes": None,
        "stops": [],
        "restarts": [],
        "skipped_bars": [],
        "tempo": {},
        "factor": 1.0,
    }
    history.add(
        dataclasses.replace(
            take,
            piece={
                "id": None,
                "title": None,
                "confidence": 0.1,
                "bar": None,
                "set_by_hand": False,
            },
            fundamentals=free,
            bars=[],
        )
    )
    assert "free play" in format_history(history.last(1))
    history.close()
