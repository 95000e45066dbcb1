"""engine/ imports one way, following the flow: a layer imports only the layers before it."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.conftest import ROOT

# Utilities with no engine imports of their own, usable from any layer.
BASE = {"loop", "redact", "spawn", "exits", "values", "stats", "jsontext"}
# Each layer, and the layers it may import (besides itself and BASE).
LAYERS = {
    "loop": set(),
    "redact": set(),
    "spawn": set(),
    "exits": set(),
    "values": set(),
    "stats": set(),  # means and confidence intervals over rounds
    "jsontext": set(),  # strict JSON (no NaN or Infinity) for every file written
    # Each load shape, whole (engine/shapes): its grid fields, options, plan, figures and words. It
    # declares its options with engine.options' Option type and parsers (option.py, parse.py: no
    # engine import beyond values), and the option table gathers them: the two layers import each
    # other's leaves, never in a circle (test_no_import_circle).
    "shapes": {"options"},
    # The grid: the load to put on the server, and its checks.
    "grid": {"shapes"},
    # A profile's [sweep] table: the server variants to run (run by the sweep layer).
    "sweepspec": {"grid"},
    "profiles": {"shapes", "grid", "sweepspec"},
    "plan": {"shapes", "profiles", "grid"},
    "load": {"shapes", "profiles", "grid", "plan"},
    "report": {"shapes", "profiles", "grid", "plan", "load"},
    "compare": {"shapes", "profiles", "grid", "plan", "load", "report"},
    # Every option declared once: its flag, profile field, parser and form field.
    "options": {"shapes", "profiles", "grid", "report", "sweepspec"},
    # The workload as a front end's form fields and the plan in words (the TUI's setup, the dry run).
    "workload": {"shapes", "profiles", "grid", "plan", "report", "options"},
    # What leaves the terminal for people (HTML reports, images for slides): runs and their comparisons.
    "share": {"shapes", "profiles", "grid", "plan", "load", "report", "compare"},
    "events": {"shapes", "profiles", "grid", "plan", "report"},
    "server": {"shapes", "profiles", "grid", "plan", "load", "report", "events"},
    # Server metrics and hardware sampled during a run (reads the server's /metrics, hence after server).
    "telemetry": {"shapes", "profiles", "grid", "plan", "load", "report", "events", "server"},
    "run": {"shapes", "profiles", "grid", "plan", "load", "report", "events", "server", "telemetry"},
    "bench": {"shapes", "profiles", "grid", "plan", "load", "report", "server"},
    # Many server variants of one profile: their runs, their frontier and its comparison.
    "sweep": {
        "sweepspec",
        "shapes",
        "profiles",
        "grid",
        "plan",
        "load",
        "report",
        "compare",
        "share",
        "events",
        "server",
        "telemetry",
        "run",
        "options",
        "workload",
    },
    "headless": {
        "sweepspec",
        "shapes",
        "profiles",
        "grid",
        "plan",
        "load",
        "report",
        "compare",
        "share",
        "events",
        "server",
        "telemetry",
        "run",
        "bench",
        "workload",
        "options",
        "sweep",
    },
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "engine" and len(parts) > 1 else None


def test_engine_imports_one_way():
    wrong = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        layer = rel.parts[1] if len(rel.parts) > 1 and rel.parts[1] != "__init__" else None
        if layer is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                target = _layer(name)
                allowed = LAYERS[layer] | (BASE if layer not in BASE else set())
                if target in LAYERS and target != layer and target not in allowed:
                    wrong.append(f"{rel}: imports {name} ({layer} -> {target})")
    assert not wrong, "\n".join(sorted(set(wrong)))


def _modules() -> dict[str, Path]:
    """Every module of engine/ and tui/ by dotted name (a package by its own name)."""
    out = {}
    for top in ("engine", "tui"):
        for path in sorted((ROOT / top).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules `name` imports anywhere in its file (a function's late import counts: it is a circle too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # A package's __init__ is not an edge: importing engine.x.y passes through it harmlessly.
            if target and target != name and modules[target].name != "__init__.py":
                found.add(target)
    return found


def _circles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan), each one import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                out.append(frozenset(component))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    modules = _modules()
    edges = {name: _imports(name, path, modules) for name, path in modules.items()}
    circles = _circles(edges)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(sorted(c)) for c in circles)


def test_the_circle_test_sees_a_circle_inside_a_package():
    edges = {
        "engine.x.a": {"engine.x.b"},
        "engine.x.b": {"engine.x.c"},
        "engine.x.c": {"engine.x.a"},
        "engine.y": set(),
    }
    assert _circles(edges) == [frozenset({"engine.x.a", "engine.x.b", "engine.x.c"})]


def test_every_package_ships_in_the_wheel():
    """pyproject.toml lists the packages by name: a new folder left off would be missing from the wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("engine", "tui")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert folders - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
