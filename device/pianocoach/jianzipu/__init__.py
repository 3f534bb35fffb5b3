"""Guqin jianzipu (减字谱): knowledge data, parsing and explaining written characters, reading images."""

from pianocoach.jianzipu.explain import explain
from pianocoach.jianzipu.knowledge import Knowledge, load_knowledge
from pianocoach.jianzipu.parser import Character, JianzipuError, mark_order, parse
from pianocoach.jianzipu.pitch import Pitch, pitch

__all__ = [
    "Character",
    "JianzipuError",
    "Knowledge",
    "Pitch",
    "explain",
    "load_knowledge",
    "mark_order",
    "parse",
    "pitch",
]
