"""The history as the web page reads it: a read-only SQLite connection per request beside the daemon's writer.

The daemon's database is in WAL mode, so a reader never blocks its writes and sees whole rows only. Reading opens
``mode=ro`` (the page cannot change a take by accident); deleting a take, the one change the page makes, is one
short ``DELETE`` in its own connection with a short busy timeout, so the daemon waits at most that long.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from pianocoach.appliance.history import HistoryError, accuracy_pct, decode_row, piece_title

PAGE_SIZE = 25
MAX_PAGE = 100_000  # a page number past this is refused (no unbounded OFFSET)
EXPORT_LIMIT = 100_000  # rows in one export
DELETE_TIMEOUT_S = 0.5  # the daemon's write waits at most this long for a delete
PIECE_ID = "json_extract(piece, '$.id')"
# every column but the piano roll's notes (played and as due, up to 100 KB each: read for one take only)
LISTED = (
    "id, started_at, duration_s, source, input, overall, scales, measures, feedback, language, bundle_id, warnings, "
    "piece, fundamentals, bars"
)


@dataclass(frozen=True)
class Filters:
    piece: str | None = None  # a repertoire id; "" : free play
    date_from: str | None = None  # YYYY-MM-DD, inclusive (UTC)
    date_to: str | None = None  # YYYY-MM-DD, inclusive

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if self.piece is not None:
            clauses.append(f"{PIECE_ID} = ?" if self.piece else f"(piece IS NULL OR {PIECE_ID} IS NULL)")
            params += [self.piece] if self.piece else []
        if self.date_from:
            clauses.append("started_at >= ?")
            params.append(self.date_from)
        if self.date_to:
            clauses.append("started_at < ?")
            params.append((datetime.fromisoformat(self.date_to) + timedelta(days=1)).date().isoformat())
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def parse_date(text: str | None) -> str | None:
    """YYYY-MM-DD or None; anything else raises ValueError."""
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d").date().isoformat()


class HistoryView:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise HistoryError(f"{self.path}: no history yet (the appliance writes it after the first take)")
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
        db.row_factory = sqlite3.Row
        return db

    def _rows(self, sql: str, params: list[Any] | tuple = ()) -> list[dict]:
        db = self._read()
        try:
            return [decode(row) for row in db.execute(sql, params).fetchall()]
        finally:
            db.close()

    def count(self, filters: Filters = Filters()) -> int:
        where, params = filters.where()
        db = self._read()
        try:
            return int(db.execute(f"SELECT COUNT(*) FROM performances{where}", params).fetchone()[0])
        finally:
            db.close()

    def page(self, filters: Filters, number: int, size: int = PAGE_SIZE) -> list[dict]:
        """Takes newest first, page ``number`` (1-based)."""
        number = min(max(number, 1), MAX_PAGE)
        where, params = filters.where()
        return self._rows(
            f"SELECT {LISTED} FROM performances{where} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, size, (number - 1) * size],
        )

    def take(self, take_id: int) -> dict | None:
        rows = self._rows("SELECT * FROM performances WHERE id = ?", (take_id,))
        return rows[0] if rows else None

    def latest(self) -> dict | None:
        rows = self._rows(f"SELECT {LISTED} FROM performances ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def practice_since(self, since: datetime) -> dict:
        """Takes and seconds played since ``since``."""
        db = self._read()
        try:
            n, seconds = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(duration_s), 0) FROM performances WHERE started_at >= ?",
                (since.astimezone(timezone.utc).isoformat(timespec="seconds"),),
            ).fetchone()
        finally:
            db.close()
        return {"takes": int(n), "seconds": float(seconds)}

    def pieces(self) -> list[dict]:
        """Every piece with takes: id, title, number of takes, the latest take's time; most recent first."""
        db = self._read()
        try:
            rows = db.execute(
                f"SELECT {PIECE_ID} AS id, json_extract(piece, '$.title') AS title, COUNT(*) AS takes, "
                f"MAX(started_at) AS latest FROM performances WHERE {PIECE_ID} IS NOT NULL "
                f"GROUP BY {PIECE_ID} ORDER BY latest DESC"
            ).fetchall()
        finally:
            db.close()
        return [dict(row) for row in rows]

    def series(self, piece: str, scale: str | None, limit: int = 2000) -> list[dict]:
        """A piece's takes, oldest first (the newest ``limit``), as the few numbers its charts draw: read in SQL
        (json_extract), so that the bars and measurements of 2,000 takes are never decoded."""
        db = self._read()
        try:
            rows = db.execute(
                "SELECT id, started_at, overall, json_extract(piece, '$.title') AS title, "
                "json_extract(fundamentals, '$.notes.accuracy_pct') AS accuracy_pct, "
                "COALESCE(json_extract(fundamentals, '$.tempo.played_qpm'), "
                "json_extract(measures, '$.tempo_bpm.value')) AS tempo_qpm, json_extract(scales, ?) AS scale "
                "FROM performances "
                f"WHERE {PIECE_ID} = ? ORDER BY id DESC LIMIT ?",
                (json_path(scale or ""), piece, limit),
            ).fetchall()
        finally:
            db.close()
        return [dict(row) for row in reversed(rows)]

    def export(self, filters: Filters) -> Iterator[dict]:
        """Takes oldest first, decoded one at a time (an export is streamed, never held whole)."""
        where, params = filters.where()
        db = self._read()
        try:
            rows = db.execute(f"SELECT {LISTED} FROM performances{where} ORDER BY id LIMIT ?", [*params, EXPORT_LIMIT])
            for row in rows:
                yield decode(row)
        finally:
            db.close()

    def delete(self, take_id: int) -> bool:
        """Delete one take; whether it was there."""
        db = sqlite3.connect(self.path, timeout=DELETE_TIMEOUT_S)
        try:
            with db:
                return db.execute("DELETE FROM performances WHERE id = ?", (take_id,)).rowcount > 0
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: cannot delete take {take_id} ({exc})") from exc
        finally:
            db.close()


def json_path(key: str) -> str:
    """A JSON path selecting one key of an object (quoted: scale names hold spaces, colons and slashes)."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def decode(row: sqlite3.Row) -> dict:
    """The daemon's decoding of a stored take (with its notes, where the query read them), and what the pages show
    of it: the piece's title, the share of notes right, the tempo."""
    item = decode_row(row, notes=True)
    item["title"] = piece_title(item)
    item["accuracy_pct"] = accuracy_pct(item)
    item["tempo_qpm"] = tempo_of(item)
    return item


def tempo_of(item: dict) -> float | None:
    """The take's tempo: quarter notes a minute against the score, else the estimated beats a minute."""
    tempo = ((item.get("fundamentals") or {}).get("tempo") or {}).get("played_qpm")
    if tempo is not None:
        return float(tempo)
    measured = (item.get("measures") or {}).get("tempo_bpm") or {}
    return float(measured["value"]) if measured.get("value") is not None else None
