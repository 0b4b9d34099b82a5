"""The package has no import circle: every ``import`` of an ``impact_miner`` module by another, at module
level, inside a function (a "lazy" import) or under ``TYPE_CHECKING``, is an edge, and the graph of
those edges is acyclic. Read from the source with :mod:`ast`, so an import that only runs on some path
counts as much as one that always runs."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import impact_miner
import impact_miner.connectors
import impact_miner.render

PACKAGES = {
    "impact_miner": impact_miner,
    "impact_miner.connectors": impact_miner.connectors,
    "impact_miner.render": impact_miner.render,
}


def package_modules() -> dict[str, Path]:
    """Every module of the package, by dotted name, with its source file."""
    modules: dict[str, Path] = {}
    for package, module in PACKAGES.items():
        for directory in module.__path__:
            for path in sorted(Path(directory).glob("*.py")):
                modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


def imported(name: str, path: Path, modules: Mapping[str, Path]) -> Iterator[str]:
    """The package modules that ``name`` (at ``path``) imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        candidates: list[str] = []
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # `from package import module` imports that module; `from module import name`, the module
            candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                yield candidate


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: set(imported(name, path, modules)) for name, path in modules.items()}


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (``[a, b, …, a]``), or None when it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_package_has_no_import_circle() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def test_the_graph_sees_lazy_type_checking_and_package_imports() -> None:
    graph = import_graph()
    assert "impact_miner.offline_writer" in graph["impact_miner.pipeline"]  # inside a function
    assert "impact_miner.llm_writer" in graph["impact_miner.pipeline"]  # under TYPE_CHECKING
    assert "impact_miner" in graph["impact_miner.render.html"]  # from impact_miner import __version__
    assert "impact_miner.render.markdown" in graph["impact_miner.render.formats"]
    assert "impact_miner.registry" in graph["impact_miner.connectors.git"]


def test_renderers_import_views_and_never_the_dispatch() -> None:
    """views ← renderers ← formats ← outputs: nothing below imports what is above it."""
    graph = import_graph()
    renderers = {n for n in graph if n.startswith("impact_miner.render.")} - {"impact_miner.render.formats"}
    assert graph["impact_miner.render.views"] & renderers == set()
    for name in renderers:
        assert not graph[name] & {"impact_miner.render.formats", "impact_miner.outputs"}, name


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
