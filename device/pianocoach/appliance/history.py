"""Every scored performance in SQLite, one row written in one transaction after scoring.

WAL journal with ``synchronous=FULL``: a power cut during a write loses at most that row, and the
database opens readable afterwards (SQLite replays or discards the WAL on open).

The schema version is SQLite's ``user_version``: 0 is a database from before versions were kept (the first
table), 2 adds the piece, the fundamentals and the bars as played (JSON, NULL for rows stored before), 3 the notes
as played (the web page's piano roll), 4 the score's notes as due in the take (drawn beside them). Opening an
older database adds the missing columns (each step can be repeated, so a cut migration finishes on the next
open); its rows stay as they were.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pianocoach.errors import PianoCoachError

if TYPE_CHECKING:  # only for the annotation: the web page reads the history without loading the scorer
    from pianocoach.scoring.result import PerformanceResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS performances (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,          -- ISO 8601, UTC
    duration_s REAL NOT NULL,
    source TEXT NOT NULL,              -- audio or midi
    input TEXT NOT NULL,               -- microphone, a MIDI port name, a file name
    overall REAL NOT NULL,             -- 0-100
    scales TEXT NOT NULL,              -- JSON {scale name: value on the label scale or null (unknown)}, 19 scales
    measures TEXT NOT NULL,            -- JSON {name: {value (null: unknown), unit, label_en, label_zh, estimated}}
    feedback TEXT NOT NULL,
    language TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    warnings TEXT NOT NULL             -- JSON list
)
"""
SCHEMA_VERSION = 4
# columns added after the first table: (name, SQL type and comment); every one may be NULL (older rows)
ADDED_COLUMNS = (
    ("piece", "TEXT"),  # JSON {id, title, confidence, bar, set_by_hand} (id null: free play), or NULL
    ("fundamentals", "TEXT"),  # JSON: notes, stops, restarts, tempo, hands, dynamics, factor
    ("bars", "TEXT"),  # JSON list: per bar as played, its errors with times and pitches
    ("notes", "TEXT"),  # JSON list of [onset ms, length ms, pitch, velocity] (result.played_notes), or NULL
    ("score_notes", "TEXT"),  # JSON list of [onset ms, length ms, pitch] (result.score_notes), or NULL
)
MAX_BARS = 2000  # bars as played stored per performance (a take's length caps them long before this)


class HistoryError(PianoCoachError):
    """The history database cannot be opened or written."""


class History:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # the daemon's thread opens it at start-up and its event loop thread writes: one user at a time
            self.db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            with self.db:
                self.db.execute(SCHEMA)
                self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise HistoryError(f"{self.path}: cannot open the history database ({exc})") from exc
        self.db.row_factory = sqlite3.Row

    def _migrate(self) -> None:
        """Bring an older database up to ``SCHEMA_VERSION`` (inside the caller's transaction)."""
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version >= SCHEMA_VERSION:
            return
        have = {row[1] for row in self.db.execute("PRAGMA table_info(performances)")}
        for name, kind in ADDED_COLUMNS:
            if name not in have:
                self.db.execute(f"ALTER TABLE performances ADD COLUMN {name} {kind}")
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def add(self, result: PerformanceResult, started_at: float | None = None) -> int:
        """Store one performance; returns its id."""
        when = datetime.fromtimestamp(started_at if started_at is not None else time.time(), timezone.utc)
        numbers = [result.overall, result.duration_s, *result.scale_values]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
            raise HistoryError(
                f"{self.path}: not stored: the result of {result.input} holds values that are not "
                "numbers (a faulty model?)"
            )
        try:  # allow_nan=False: NaN in a measurement would be written as JSON no reader accepts
            row = (
                when.isoformat(timespec="seconds"),
                result.duration_s,
                result.source,
                result.input,
                result.overall,
                json.dumps(result.shown_scales(), allow_nan=False),  # null: a scale the input cannot show
                json.dumps(result.measures, ensure_ascii=False, allow_nan=False),
                result.feedback,
                result.language,
                result.bundle_id,
                json.dumps(result.warnings, ensure_ascii=False),
                _json_or_null(result.piece),
                # with the expression mark the factor scales: the two layers of the mark, for the web page
                _json_or_null(
                    {**result.fundamentals, "expression_mark": result.expression_mark} if result.fundamentals else None
                ),
                _json_or_null(result.bars[:MAX_BARS] if result.bars is not None else None),
                _json_or_null(result.played_notes, compact=True),
                _json_or_null(result.score_notes, compact=True),
            )
        except ValueError as exc:
            raise HistoryError(
                f"{self.path}: not stored: the result of {result.input} cannot be written ({exc})"
            ) from None
        try:
            with self.db:  # one transaction: the row is there whole or not at all
                cursor = self.db.execute(
                    "INSERT INTO performances (started_at, duration_s, source, input, overall, scales, measures, "
                    "feedback, language, bundle_id, warnings, piece, fundamentals, bars, notes, score_notes)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: cannot write the performance ({exc})") from exc
        assert cursor.lastrowid is not None  # an INSERT sets it
        return int(cursor.lastrowid)

    def last(self, n: int = 10) -> list[dict]:
        """The newest ``n`` performances, newest first, with the JSON columns decoded."""
        rows = self.db.execute("SELECT * FROM performances ORDER BY id DESC LIMIT ?", (n,)).fetchall()
        return [decode_row(row) for row in rows]

    def latest(self) -> dict | None:
        rows = self.last(1)
        return rows[0] if rows else None

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM performances").fetchone()[0])

    def close(self) -> None:
        self.db.close()


def _json_or_null(value, compact: bool = False) -> str | None:
    if value is None:
        return None
    if compact:  # the notes as played: numbers only, thousands of them
        return json.dumps(value, separators=(",", ":"))
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


JSON_COLUMNS = ("scales", "measures", "warnings", "piece", "fundamentals", "bars", "notes", "score_notes")
ROLL_COLUMNS = ("notes", "score_notes")  # a take's piano roll: up to 100 KB each, read for one take only


def decode_row(row: sqlite3.Row, notes: bool = False) -> dict:
    """A stored performance with its JSON columns decoded (NULL stays None); the notes as played and the score's
    notes as due (up to 100 KB each) only with ``notes`` (the web page's piano roll of one take)."""
    item = dict(row)
    if not notes:
        for key in ROLL_COLUMNS:
            item.pop(key, None)
    for key in JSON_COLUMNS:
        if key in item:  # a query may leave a column out
            item[key] = json.loads(item[key]) if item[key] is not None else None
    return item


def piece_title(item: dict) -> str:
    """The piece a stored performance was of: its title, "free play", or "" (stored without a repertoire)."""
    piece = item.get("piece")
    if not piece:
        return ""
    return str(piece.get("title") or piece.get("id") or "") if piece.get("id") is not None else "free play"


def accuracy_pct(item: dict) -> float | None:
    """The share of notes right (%), for a performance followed along a score; None otherwise."""
    notes = (item.get("fundamentals") or {}).get("notes")
    return None if not notes else float(notes["accuracy_pct"])


def age_seconds(item: dict) -> float:
    return time.time() - datetime.fromisoformat(item["started_at"]).timestamp()


def format_history(items: list[dict]) -> str:
    """A table for ``pianocoach history``: newest first, with the change against the one before, the share of notes
    right (with a score) and the piece's title."""
    if not items:
        return "no performances yet"
    lines = [
        f"{'id':>4}  {'when (UTC)':<19}  {'mark':>5}  {'change':>6}  {'length':>6}  {'notes':>5}  {'source':<6}  "
        "piece / input"
    ]
    for i, item in enumerate(items):
        older = items[i + 1]["overall"] if i + 1 < len(items) else None
        change = f"{item['overall'] - older:+.0f}" if older is not None else ""
        minutes = f"{int(item['duration_s'] // 60)}:{int(item['duration_s'] % 60):02d}"
        accuracy = accuracy_pct(item)
        notes = f"{accuracy:.0f}%" if accuracy is not None else ""
        title = piece_title(item)
        lines.append(
            f"{item['id']:>4}  {item['started_at'][:19].replace('T', ' '):<19}  {item['overall']:5.0f}  "
            f"{change:>6}  {minutes:>6}  {notes:>5}  {item['source']:<6}  "
            + (f"{title} ({item['input']})" if title else item["input"])
        )
    return "\n".join(lines)
