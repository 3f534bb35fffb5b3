"""The device package is layered: each part imports only parts below it, and no modules import each other in a
circle. Every import counts, also those inside functions and under ``TYPE_CHECKING``: the graph is read from the
source (``ast``), not from what happens to be imported at run time.

A new top-level module or package must be given a layer here: the test names it when it has none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pianocoach

PACKAGE = Path(pianocoach.__file__).resolve().parent

# Bottom to top. A part may import parts of lower layers only (not its neighbours in the same layer).
LAYERS: list[set[str]] = [
    {"pianocoach", "errors"},  # the package itself (its version) and the exception tree
    {
        "jsonio",
        "console",
        "render",
        "rating_scales",
        "toml_config",
        "cli_args",
        "note_decoder",
        "sample_piece",
        "native_memory",
    },
    {"features"},  # the feature contract: notes, descriptors, audio features, their settings
    {"bundle"},  # manifests, signatures, verification, the bundle store
    {"inputs", "transcription", "jianzipu", "feedback", "repertoire"},  # input, scores, numbers into words
    {"scoring"},  # sessions, the bundle's scorers, the health check of a bundle
    {"terminal_report", "bench", "bench_pi"},
    {"appliance"},  # the daemon and its commands
    {"web"},  # the companion page over the daemon's history
    {"cli"},  # the `pianocoach` command
]
LAYER_OF = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """``pianocoach.scoring.session`` -> ``scoring``; ``pianocoach`` -> ``pianocoach``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path) -> set[str]:
    """The pianocoach modules one file imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from pianocoach.appliance import screens` imports a module, not only a name
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return {m for m in found if m == "pianocoach" or m.startswith("pianocoach.")}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        graph[name] = {m for m in imports_of(path) if m in files and m != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_part_of_the_device_package_has_a_layer():
    parts = {part_of(name) for name in import_graph()}
    assert parts - set(LAYER_OF) == set(), "give these a layer in LAYERS"


def test_no_import_goes_up_or_sideways():
    wrong = []
    for module, targets in import_graph().items():
        here = part_of(module)
        for target in targets:
            there = part_of(target)
            if there != here and LAYER_OF.get(there, 99) >= LAYER_OF.get(here, -1):
                wrong.append(f"{module} -> {target} (layer {LAYER_OF.get(here)} -> {LAYER_OF.get(there)})")
    assert not wrong, "imports that climb or cross a layer:\n" + "\n".join(sorted(wrong))


def test_no_modules_import_each_other_in_a_circle():
    assert circles(import_graph()) == []


def test_the_checks_see_an_upward_import_and_a_circle():
    """The graph reader itself: a circle is found, and so are lazy imports inside functions."""
    graph = {
        "pianocoach.a": {"pianocoach.b"},
        "pianocoach.b": {"pianocoach.c"},
        "pianocoach.c": {"pianocoach.a"},
        "pianocoach.d": {"pianocoach.a"},
    }
    assert circles(graph) == [["pianocoach.a", "pianocoach.b", "pianocoach.c"]]
    health = imports_of(PACKAGE / "scoring" / "health.py")  # its imports are inside functions
    assert {"pianocoach.scoring", "pianocoach.jianzipu.reader", "pianocoach.feedback.backends"} <= health
