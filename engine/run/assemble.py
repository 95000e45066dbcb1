"""The one place a cell's result is made: the client's figures from its records, the window in
which the load held its target (its steady state), reasoning apart from answers, what its
workload adds (an open-loop cell's target and achieved rate, a dataset's source, goodput under
SLOs, its shape's own figures) and the server's and hardware's telemetry over its measured window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.load.openloop import achieved_rate, peak_in_flight
from engine.load.record import RequestRecord
from engine.plan import Cell
from engine.profiles import ResolvedProfile
from engine.report.goodput import goodput, meets
from engine.report.itl import Itls
from engine.report.metrics import ClientFigures, summarize_cell
from engine.report.model import SERVER_MISMATCH, CellResult, Flag, Goodput, OpenLoop
from engine.report.reasoning import with_reasoning
from engine.report.steady import with_steady_state
from engine.run.telemetry import TelemetryWindow
from engine.shapes.registry import kind_of
from engine.telemetry.aggregate import TokenVerdict, server_cell_stats, telemetry_cell_stats, token_check
from engine.telemetry.cache import cache_flag


def assemble_cell(
    cell: Cell,
    records: list[RequestRecord],
    duration: float,
    client: ClientFigures | None,
    profile: ResolvedProfile,
    window: TelemetryWindow | None,
    itls: Itls | None = None,
    on_note: Callable[[str], None] | None = None,
) -> CellResult:
    """A finished cell's result, whole (its ITLs from `itls` where the load handed them there).
    `on_note` is told what could not be checked (the server's token counters), for the user."""
    result = summarize_cell(cell, records, duration, profile.recipe.tensor_devices(), client, itls)
    result = with_reasoning(with_steady_state(result, cell, records), records)
    update = workload_figures(result, cell, records, profile)
    if window is not None:
        update.update(telemetry_figures(result, window, cell, on_note))
    return result.model_copy(update=update)


def workload_figures(
    result: CellResult, cell: Cell, records: list[RequestRecord], profile: ResolvedProfile
) -> dict[str, Any]:
    """An open-loop cell's target and achieved rate, a dataset's source, goodput under SLOs, and the
    shape's own figures."""
    grid, slo, out = profile.grid, profile.load.slo, {}
    if result.dataset is not None:  # the file it came from
        from_file = cell.dataset in ("jsonl", "sharegpt")
        own = kind_of(grid).prompts_source(grid)  # a shape that brings its own prompts names their file
        source = own or (grid.dataset.split(":", 1)[1] if from_file else grid.multiturn_file())
        out["dataset"] = result.dataset.model_copy(update={"source": source})
    planned = cell.shape.planned([r.planned_s for r in records])
    if planned is not None:  # an open loop: what its shape planned, what was achieved
        out["open_loop"] = OpenLoop(
            **planned,
            seed=profile.load.seed + cell.index,
            achieved_rate=achieved_rate(records),
            max_in_flight=cell.concurrency or None,
            peak_in_flight=peak_in_flight(records),
        )
    if slo:
        rate, good = goodput(records, result.duration, slo)
        out["goodput"] = Goodput(slo_ms=slo, good=good, request_goodput=rate)
    # The shape's own figures, from the first request, in send order, that missed an SLO (without SLOs:
    # that failed): where a climbing rate was when it broke.
    missed = [r.index for r in records if not (meets(r, slo) if slo else r.ok)]
    out.update(cell.shape.figures(min(missed, default=None), len(records), slo))
    return out


def telemetry_figures(
    result: CellResult, window: TelemetryWindow, cell: Cell, on_note: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """The server's figures over the window (its token counters checked against ours: a mismatch is
    a flag; its prefix cache's hits where the prompts share nothing: another) and the hardware's."""
    out: dict[str, Any] = {}
    if window.server_read:
        stats = server_cell_stats(
            window.server_samples, window.t0, window.t1, window.cell_start, window.measure_start, window.end
        )
        check = token_check(
            stats,
            result.total_input_tokens,
            result.total_output_tokens,
            window.warmup_output_tokens,
            window.settled,
            counter=window.generation_counter,
        )
        stats.token_check, stats.prefix_cache_reset = check.text, window.prefix_cache_reset
        out["server"] = stats
        if check.verdict is TokenVerdict.UNCHECKED and on_note is not None:
            on_note(check.text)
        flags = [Flag(code=SERVER_MISMATCH, reason=check.text)] if check.verdict is TokenVerdict.DISAGREE else []
        if (cached := cache_flag(cell, result, stats, window.seed)) is not None:
            flags.append(cached)
        if flags:
            out["flags"] = [*result.flags, *flags]
    if window.devices_read:
        out["telemetry"] = telemetry_cell_stats(
            window.readings, window.t0, window.t1, result.total_output_tokens, window.no_power
        )
    return out
