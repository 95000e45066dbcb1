"""engine/ imports one way, following the flow: a layer imports only the layers before it."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

# Utilities with no engine imports of their own, usable from any layer.
BASE = {"exitcodes", "loop", "redact", "spawn"}
# Each layer, and the layers it may import (besides itself and BASE).
LAYERS = {
    "exitcodes": set(),
    "loop": set(),
    "redact": set(),
    "spawn": set(),
    "profiles": set(),
    "plan": {"profiles"},
    "load": {"profiles", "plan"},
    "report": {"profiles", "plan", "load"},
    "compare": {"profiles", "plan", "load", "report"},
    # The workload as a front end's form fields and the plan in words (the TUI's setup, the dry run).
    "workload": {"profiles", "plan", "report"},
    # What leaves the terminal for people (HTML reports, images for slides): runs and their comparisons.
    "share": {"profiles", "plan", "load", "report", "compare"},
    "events": {"profiles", "plan", "report"},
    "server": {"profiles", "plan", "load", "report", "events"},
    # Server metrics and hardware sampled during a run (reads the server's /metrics, hence after server).
    "telemetry": {"profiles", "plan", "load", "report", "events", "server"},
    "run": {"profiles", "plan", "load", "report", "events", "server", "telemetry"},
    "bench": {"profiles", "plan", "load", "report", "server"},
    "headless": {
        "profiles",
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
