"""The package's import graph has no loops (DESIGN "What a module may import").

The graph is read from the source with ``ast``: every ``import`` and ``from ... import``,
at module level or inside a function (a loop closed by a function-local import is still a
loop), resolved to the jaxreg module it names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jaxreg

ROOT = Path(jaxreg.__file__).parent


def modules() -> dict[str, Path]:
    """``{dotted name: file}`` for every module of the package (a package by its ``__init__``)."""
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = ("jaxreg",) + f.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _resolve(name: str, mods) -> str | None:
    """The jaxreg module ``name`` is, or the nearest package or module holding it."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """``{module: the jaxreg modules it imports}``."""
    mods = modules()
    graph = {}
    for mod, f in mods.items():
        package = mod if f.name == "__init__.py" else mod.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                targets.update(_resolve(a.name, mods) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: up from this module's package
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                # ``from pkg import mod`` imports the module ``pkg.mod``; ``from mod import name``, ``mod``
                targets.update(
                    _resolve(f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base, mods) for a in node.names
                )
        graph[mod] = targets - {None, mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_graph_sees_every_kind_of_import():
    g = import_graph()
    assert "jaxreg.solvers.working_set_loop" in g["jaxreg.solvers.working_set_logistic"]  # from a.b import c
    assert "jaxreg.solvers.working_set" in g["jaxreg.solvers"]  # from pkg import module as name
    assert "jaxreg._streamfit" in g["jaxreg.fit"]  # inside a function
    assert "jaxreg.errors" in g["jaxreg.cli"]


def test_cycles_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_loops():
    assert cycles(import_graph()) == []
