"""One instruction record and the JSONL files they live in.

Schema of every line (UTF-8 JSON)::

    {"id": "percepiano-template-000123-en",       unique
     "source": "percepiano_template",              percepiano_comment | percepiano_template | jianzipu | musicpile
     "group": "Beethoven_WoO80_var27_8bars_1_15",  the unit the train/validation split is drawn by
     "split": "train",                             train | validation
     "language": "en",                             en | zh | ko
     "messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...],   chat records: loss on
                                                   the last (assistant) turn only
     "text": "...",                                instead of messages: plain text (MusicPile pretraining
                                                   rows), loss on every token
     "meta": {...}}                                free-form provenance (rater, aspects, src)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from pianocoach.errors import DatasetFileError

SOURCES = ("percepiano_comment", "percepiano_template", "jianzipu", "musicpile")
SPLITS = ("train", "validation")


@dataclass
class Record:
    id: str
    source: str
    group: str
    language: str
    messages: list[dict[str, str]] = field(default_factory=list)
    text: str = ""
    split: str = "train"
    meta: dict = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        if not self.text:
            data.pop("text")
        if not self.messages:
            data.pop("messages")
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict, where: str = "") -> "Record":
        try:
            record = cls(
                id=str(data["id"]),
                source=str(data["source"]),
                group=str(data["group"]),
                language=str(data["language"]),
                messages=list(data.get("messages", [])),
                text=str(data.get("text", "")),
                split=str(data.get("split", "train")),
                meta=dict(data.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}not an instruction record ({type(exc).__name__}: {exc})") from None
        if bool(record.messages) == bool(record.text):
            raise ValueError(f"{where}a record has either messages or text")
        if record.messages and record.messages[-1].get("role") != "assistant":
            raise ValueError(f"{where}the last message must be the assistant's")
        return record


def validation_group(group: str, fraction: float, salt: str = "pianocoach-llm") -> bool:
    """Whether a group goes to validation: a stable hash of its name, so every record of one
    performance lands on the same side and a rebuilt data set splits the same way."""
    digest = hashlib.sha256(f"{salt}:{group}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def assign_splits(records: Iterable[Record], fraction: float) -> Iterator[Record]:
    for record in records:
        record.split = "validation" if validation_group(record.group, fraction) else "train"
        yield record


def write_records(records: Iterable[Record], path: Path) -> int:
    """Write JSONL through a temporary file (a failed build leaves the old file); returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(record.to_json() + "\n")
                count += 1
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def read_records(path: str | Path) -> list[Record]:
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(
            path, "no such instruction data file (build it with: python -m pianocoach_train llm data)"
        )
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                records.append(Record.from_dict(json.loads(line), f"line {number}: "))
            except (json.JSONDecodeError, ValueError) as exc:
                raise DatasetFileError(path, str(exc)) from None
    return records
