"""The jianzipu knowledge data (``pianocoach/data/jianzipu/knowledge.json``, schema beside it): every
component with its written form, reading, abbreviation and explanation, the tunings, and the relations
between components (a small knowledge graph).

Kinds: form (按 stopped, 散 open, 泛 harmonic, 未标 nothing written for the left hand), finger, hui (1..13,
each exactly once), hui_fraction (tenths and 半), hui_region (徽外: past the 13th hui, no fixed place),
technique (right-hand strokes, with ``layout``, ``strings`` one/two/several and ``string_optional``),
string, ornament (left-hand marks, each ``requires`` a stopped string and has a ``placement``: written
before the stroke or after the string; ``left_hand_sound`` marks sound without the right hand) and marker
(间 between two strokes, and the passage markers 泛起 泛止 少息)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from pianocoach.errors import InputFileError
from pianocoach.jsonio import read_json

KNOWLEDGE_PATH = Path(__file__).resolve().parent.parent / "data" / "jianzipu" / "knowledge.json"
KINDS = ("form", "finger", "hui", "hui_fraction", "hui_region", "technique", "string", "ornament", "marker")
PLACEMENTS = ("before_stroke", "between_strokes", "after_string")  # where a mark is written, in that order


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
    for c in components:
        if c.kind == "hui_region" and c.get("after_hui") not in range(1, 14):
            raise KnowledgeError(path, f"hui region {c.name} must name the hui it lies beyond (after_hui 1..13)")
        if c.kind == "ornament" and c.get("placement") not in PLACEMENTS:
            raise KnowledgeError(path, f"ornament {c.name}: placement must be one of {', '.join(PLACEMENTS)}")
        if c.kind == "technique" and c.get("layout") not in ("enclosing", "above"):
            raise KnowledgeError(path, f"technique {c.name}: layout must be enclosing or above")
    return Knowledge(tuple(components), relations, dict(data["tunings"]), dict(data["benchmark_96"]))
