"""The jianzipu knowledge data (``pianocoach/data/jianzipu/knowledge.json``, schema beside it): every
component with its written form, reading, abbreviation and explanation, the tunings, and the relations
between components (a small knowledge graph)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from pianocoach.errors import InputFileError
from pianocoach.jsonio import read_json

KNOWLEDGE_PATH = Path(__file__).resolve().parent.parent / "data" / "jianzipu" / "knowledge.json"
KINDS = ("form", "finger", "hui", "hui_fraction", "technique", "string", "ornament", "marker")


class KnowledgeError(InputFileError):
    """The knowledge file is unreadable or breaks its schema."""


@dataclass(frozen=True)
class Component:
    kind: str
    name: str
    reading: str
    english: str
    abbreviation: str
    explanation_zh: str
    explanation_en: str
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.extra.get(key, default)


@dataclass(frozen=True)
class Knowledge:
    components: tuple[Component, ...]
    relations: tuple[tuple[str, str, str], ...]
    tunings: dict[str, dict]
    benchmark_96: dict[str, list[str]]

    def of_kind(self, kind: str) -> tuple[Component, ...]:
        return tuple(c for c in self.components if c.kind == kind)

    def find(self, kind: str, name: str) -> Component | None:
        return next((c for c in self.components if c.kind == kind and c.name == name), None)

    def related(self, subject: str, relation: str) -> list[str]:
        return [o for s, r, o in self.relations if s == subject and r == relation]

    def hui_positions(self) -> list[Fraction]:
        """String-length fraction (from the bridge) of hui 1..13."""
        return [Fraction(c.get("position")) for c in sorted(self.of_kind("hui"), key=lambda c: c.get("value"))]


@lru_cache(maxsize=4)
def load_knowledge(path: str | Path = KNOWLEDGE_PATH) -> Knowledge:
    data = read_json(path, KnowledgeError, "jianzipu knowledge file")
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        raise KnowledgeError(path, "not jianzipu knowledge data (schema_version 1 expected)")
    base = ("kind", "name", "reading", "english", "abbreviation", "explanation_zh", "explanation_en")
    components = []
    for i, item in enumerate(data.get("components", [])):
        missing = [key for key in base if key not in item]
        if missing or item.get("kind") not in KINDS:
            raise KnowledgeError(path, f"component {i} ({item.get('name', '?')}): missing {missing or 'a known kind'}")
        components.append(
            Component(**{key: item[key] for key in base}, extra={k: v for k, v in item.items() if k not in base})
        )
    relations = tuple((r["subject"], r["relation"], r["object"]) for r in data.get("relations", []))
    hui = [c for c in components if c.kind == "hui"]
    if sorted(c.get("value") for c in hui) != list(range(1, 14)):
        raise KnowledgeError(path, "the hui must be numbered 1 to 13 exactly once")
    return Knowledge(tuple(components), relations, dict(data["tunings"]), dict(data["benchmark_96"]))
