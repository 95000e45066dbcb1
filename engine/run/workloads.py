"""What a workload adds to a cell beyond the closed loop: search probes as cells, and a rate or
trace cell's target, achieved rate and peak in flight, a dataset cell's source, goodput under SLOs."""

from __future__ import annotations

from dataclasses import replace

from engine.load.openloop import achieved_rate, peak_in_flight
from engine.load.record import RequestRecord
from engine.plan import Cell, build_plan
from engine.profiles import ResolvedProfile
from engine.report.goodput import goodput
from engine.report.model import CellResult, Goodput, OpenLoop


def probe_cell(grid, seq: str, level: float, index: int) -> Cell:
    """A search probe: the grid's cell for one ISL/OSL at one concurrency or rate."""
    axis = {"concurrency": [int(level)], "rates": []} if grid.search == "concurrency" else {"rates": [level]}
    (cell,) = build_plan(grid.model_copy(update={**axis, "seq": [seq], "search": None}))
    return replace(cell, index=index)


def workload_figures(result: CellResult, cell: Cell, records: list[RequestRecord], profile: ResolvedProfile) -> None:
    """A rate cell's target and achieved rate, and goodput where SLOs were given."""
    grid, slo = profile.grid, profile.load.slo
    if result.dataset is not None:  # the file it came from
        from_file = cell.dataset in ("jsonl", "sharegpt")
        result.dataset.source = grid.trace or (grid.dataset.split(":", 1)[1] if from_file else grid.multiturn_file())
    if cell.dataset == "trace":
        planned = [r.planned_s for r in records if r.planned_s is not None]
        span = max(planned, default=0.0) - min(planned, default=0.0)
        result.open_loop = OpenLoop(
            request_rate=float(f"{(len(planned) - 1) / span:.3g}") if span > 0 else 0.0,  # the trace's mean
            arrival=f"trace x{grid.speedup or 1:g}",
            burstiness=1.0,
            seed=profile.load.seed,
            achieved_rate=achieved_rate(records),
            max_in_flight=cell.concurrency or None,
            peak_in_flight=peak_in_flight(records),
        )
    if cell.rate:
        result.open_loop = OpenLoop(
            request_rate=cell.rate,
            arrival=grid.arrival,
            burstiness=grid.burstiness,
            seed=profile.load.seed + cell.index,
            achieved_rate=achieved_rate(records),
            max_in_flight=cell.concurrency or None,
            peak_in_flight=peak_in_flight(records),
        )
    if slo:
        rate, good = goodput(records, result.duration, slo)
        result.goodput = Goodput(slo_ms=slo, good=good, request_goodput=rate)
