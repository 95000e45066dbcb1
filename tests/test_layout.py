"""engine/ imports one way, following the flow: a layer imports only the layers before it."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

# Each layer, and the layers it may import (besides itself).
LAYERS = {
    "profiles": set(),
    "plan": {"profiles"},
    "loop": set(),
    "load": {"profiles", "plan"},
    "report": {"profiles", "plan", "load"},
    "events": {"profiles", "plan", "report"},
    "server": {"profiles", "plan", "load", "report", "events", "loop"},
    "run": {"profiles", "plan", "loop", "load", "report", "events", "server"},
    "bench": {"profiles", "plan", "loop", "load", "report", "server"},
    "headless": {"profiles", "plan", "loop", "load", "report", "events", "server", "run", "bench"},
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
                if target in LAYERS and target != layer and target not in LAYERS[layer]:
                    wrong.append(f"{rel}: imports {name} ({layer} -> {target})")
    assert not wrong, "\n".join(sorted(set(wrong)))
