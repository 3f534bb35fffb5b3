"""Question-and-answer turns about jianzipu for the feedback language model, generated from the
knowledge data (and the parser, explainer and pitch code), in Chinese and English.

Each JSONL row::

    {"id": "jianzipu-000042", "source": "jianzipu", "kind": "pitch", "language": "zh",
     "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}

``kind`` is one of: meaning (a component), abbreviation (a reduced form), how_to_play (a character),
pitch (a character in standard tuning), difference (a pair of related components). The same seed gives
the same rows. The feedback language model's data builder takes them as one of its pluggable sources.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pianocoach.jianzipu import explain, load_knowledge
from pianocoach_train.jianzipu.dataset import random_character

LANGUAGES = ("zh", "en")


def _turn(kind: str, language: str, question: str, answer: str) -> dict:
    return {
        "source": "jianzipu",
        "kind": kind,
        "language": language,
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
    }


def component_turns() -> list[dict]:
    k = load_knowledge()
    rows = []
    for c in k.components:
        if c.kind in ("hui_fraction", "string", "hui"):
            continue
        rows.append(
            _turn(
                "meaning",
                "zh",
                f"减字谱里的「{c.name}」是什么意思？",
                f"「{c.name}」（{c.reading}）：{c.explanation_zh}",
            )
        )
        rows.append(
            _turn(
                "meaning",
                "en",
                f"What does {c.name} mean in guqin jianzipu?",
                f"{c.name} ({c.reading}, {c.english}): {c.explanation_en}",
            )
        )
        if c.abbreviation and c.abbreviation != c.name:
            rows.append(
                _turn(
                    "abbreviation",
                    "zh",
                    f"减字谱中的「{c.abbreviation}」代表哪个字？",
                    f"「{c.abbreviation}」是「{c.name}」的减字写法。{c.explanation_zh}",
                )
            )
            rows.append(
                _turn(
                    "abbreviation",
                    "en",
                    f"In a jianzipu character, what does the component {c.abbreviation} stand for?",
                    f"{c.abbreviation} is the reduced form of {c.name} ({c.english}). {c.explanation_en}",
                )
            )
    pairs = [(s, o) for s, r, o in k.relations if r == "paired_with"]
    for a, b in pairs:
        ca = next(c for c in k.components if c.name == a and c.kind in ("technique", "ornament"))
        cb = next(c for c in k.components if c.name == b and c.kind in ("technique", "ornament"))
        rows.append(
            _turn(
                "difference", "zh", f"「{a}」和「{b}」有什么区别？", f"{a}：{ca.explanation_zh}{b}：{cb.explanation_zh}"
            )
        )
        rows.append(
            _turn(
                "difference",
                "en",
                f"What is the difference between {a} and {b}?",
                f"{a} ({ca.english}): {ca.explanation_en} {b} ({cb.english}): {cb.explanation_en}",
            )
        )
    return rows


def character_turns(count: int, rng: np.random.Generator) -> list[dict]:
    rows = []
    for _ in range(count):
        c = random_character(rng)
        e = explain(c)
        language = str(rng.choice(LANGUAGES))
        if rng.random() < 0.5:
            question = f"「{c.text}」怎么弹？" if language == "zh" else f"How is {c.text} played on the guqin?"
            rows.append(_turn("how_to_play", language, question, e[f"explanation_{language}"]))
        else:
            if language == "zh":
                question, answer = (
                    f"正调下「{c.text}」是什么音？",
                    f"{e['note']}，约 {e['frequency_hz']:.1f} Hz。{e['explanation_zh']}",
                )
            else:
                question = f"Which pitch does {c.text} sound in standard tuning?"
                answer = f"{e['note']}, about {e['frequency_hz']:.1f} Hz. {e['explanation_en']}"
            rows.append(_turn("pitch", language, question, answer))
    return rows


def build_turns(characters: int = 2000, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = component_turns() + character_turns(characters, rng)
    return [{"id": f"jianzipu-{i:06d}", **row} for i, row in enumerate(rows)]


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path
