"""General music text in MusicPile's format, read from a local file the user gives (never downloaded).

MusicPile (the ChatMusician pretraining corpus) has rows ``{"id", "text", "src"}``; its SFT variant has
``{"instruction", "input", "output"}``. Both are read, from JSONL (one object a line) or parquet (read
batch by batch with pyarrow), as a stream: the corpus is 14 GB, so nothing is loaded whole.
:func:`make_subset` draws a reproducible subset (reservoir sampling over the stream, with a keyword
filter for music-teaching text) and writes it as JSONL.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Iterator

from pianocoach.errors import DatasetFileError
from pianocoach_train.llm.records import Record

log = logging.getLogger(__name__)

PIANO_WORDS = (
    "piano",
    "pedal",
    "tempo",
    "dynamics",
    "phrase",
    "phrasing",
    "legato",
    "staccato",
    "rubato",
    "articulation",
    "timbre",
    "practice",
    "practise",
    "crescendo",
    "fingering",
)


def stream_rows(path: str | Path, batch_rows: int = 1024) -> Iterator[dict]:
    """Rows of a MusicPile-format file, one dict at a time."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(path, "no such MusicPile file (give a local .jsonl or .parquet)")
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DatasetFileError(path, "reading parquet needs pyarrow (pip install pyarrow)") from None
        try:
            table = pq.ParquetFile(path)
            for batch in table.iter_batches(batch_size=batch_rows):
                yield from batch.to_pylist()
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DatasetFileError(path, f"not a readable parquet file ({exc})") from None
        return
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetFileError(path, f"line {number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DatasetFileError(path, f"line {number}: not a JSON object")
            yield row


def to_record(row: dict, number: int) -> Record | None:
    """A MusicPile row as an instruction record (None for a row with neither shape)."""
    ident = str(row.get("id", number))
    meta = {"src": str(row.get("src", ""))}
    if row.get("instruction") and row.get("output"):
        question = str(row["instruction"]) + (f"\n\n{row['input']}" if row.get("input") else "")
        return Record(
            f"musicpile-{ident}",
            "musicpile",
            f"musicpile-{ident}",
            "en",
            messages=[{"role": "user", "content": question}, {"role": "assistant", "content": str(row["output"])}],
            meta=meta,
        )
    if row.get("text"):
        return Record(f"musicpile-{ident}", "musicpile", f"musicpile-{ident}", "en", text=str(row["text"]), meta=meta)
    return None


def make_subset(
    path: str | Path, size: int, seed: int = 0, piano_only: bool = True, max_chars: int = 4000
) -> list[Record]:
    """``size`` records drawn uniformly from the rows that pass the filter (reservoir sampling: one pass,
    memory for ``size`` rows). ``piano_only`` keeps rows mentioning a piano-teaching word."""
    rng = random.Random(seed)
    chosen: list[Record] = []
    seen = 0
    for number, row in enumerate(stream_rows(path)):
        record = to_record(row, number)
        if record is None:
            continue
        body = record.text or " ".join(m["content"] for m in record.messages)
        if len(body) > max_chars or (piano_only and not any(w in body.lower() for w in PIANO_WORDS)):
            continue
        seen += 1
        if len(chosen) < size:
            chosen.append(record)
        else:
            slot = rng.randrange(seen)
            if slot < size:
                chosen[slot] = record
    log.info("MusicPile subset: %d of %d matching rows from %s", len(chosen), seen, path)
    return chosen


def write_subset(records: list[Record], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            row = {"id": record.id.removeprefix("musicpile-"), "src": record.meta.get("src", "")}
            if record.text:
                row["text"] = record.text
            else:
                row["instruction"], row["output"] = record.messages[0]["content"], record.messages[-1]["content"]
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return out
