"""sweep.json's `frontier`: written by `write_frontier` when a sweep finishes (and by `report` on
demand), so other tools read a sweep's frontier without recomputing it.

    {"computed": ISO time, "y": "output tok/s per GPU", "gpu_hour_cost": price or null,
     "interactivity": {ISL/OSL: [point, ...]}, "latency": {ISL/OSL: [point, ...]},
     "left_off": [{"variant", "load", "seq", "why"}], "variants_failed": [{"name", "error"}],
     "slo": null or {"held", "limits", "percentile", "best": [{"seq", "met", "of", "point"}]}}

A point: {"variant", "seq", "load", "concurrency", "rate", "input_len", "output_len", "gpus",
"output_tok_s_per_gpu", "tok_s_per_user", "mean_e2e_ms", "cost_per_mtok", "flags"} (flags: the
variant's server flags; cost_per_mtok null where the hardware profile named no gpu_hour_cost).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from engine.sweep.compute import AXES, Frontier, frontier
from engine.sweep.model import write_sweep
from engine.sweep.slo import Best, Slo, best_per_slo, recorded_slo
from engine.sweep.source import load_sweep, read_sweep


def slo_data(slo: Slo, bests: list[Best]) -> dict[str, Any]:
    return {
        "held": slo.describe(),
        "limits": slo.limits,
        "percentile": slo.percentile,
        "best": [
            {"seq": b.seq, "met": b.met, "of": b.of, "point": b.point.record() if b.point else None} for b in bests
        ],
    }


def frontier_data(f: Frontier, slo: Slo | None = None) -> dict[str, Any]:
    """The frontier as sweep.json and `--json` hold it."""
    data: dict[str, Any] = {
        "computed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "y": "output tok/s per GPU",
        "gpu_hour_cost": f.gpu_hour_cost,
    }
    for axis in AXES:
        data[axis.name] = {seq: [p.record() for p in front.frontier] for seq, front in f.axes[axis].items()}
    data["left_off"] = [{"variant": x.variant, "load": x.load, "seq": x.seq, "why": x.why} for x in f.left_off]
    failed = [v for v in f.source.variants if v.status == "failed"]
    data["variants_failed"] = [{"name": v.name, "error": v.error} for v in failed]
    data["slo"] = slo_data(slo, best_per_slo(f, slo)) if slo else None
    return data


def write_frontier(sweep_dir: Path) -> None:
    """Fill sweep.json's `frontier` from the cells of every variant (the SLO: the profile's own)."""
    sweep_dir = Path(sweep_dir)
    source = load_sweep(sweep_dir)
    data = frontier_data(frontier(source), recorded_slo(source))
    write_sweep(sweep_dir, read_sweep(sweep_dir).model_copy(update={"frontier": data}))
