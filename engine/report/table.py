"""Cells as rows: which metrics each front end shows, and the plain-text table of the console."""

from __future__ import annotations

from engine.report.model import METRICS, CellResult, Metric

# The console's table, and the TUI's narrower one (it sits beside the charts).
CONSOLE_COLUMNS: list[Metric] = [
    METRICS[k]
    for k in (
        *("max_concurrency", "seq", "completed", "failed", "request_throughput", "output_throughput"),
        *("total_token_throughput", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "p99_itl_ms", "mean_e2el_ms"),
        *("interactivity", "client_loop_lag_p99_ms", "client_run_queue_share"),
    )
]
COMPACT_COLUMNS: list[Metric] = [
    METRICS[k]
    for k in (
        *("max_concurrency", "seq", "failed", "request_throughput", "output_throughput", "median_ttft_ms"),
        *("p99_ttft_ms", "mean_tpot_ms", "mean_e2el_ms"),
    )
]
FLAG_HEADER = "flag"


def flag_mark(cell: CellResult) -> str:
    """'!' and the flag codes, for a table's last column ('' when the cell is clean)."""
    return "! " + ",".join(cell.flag_codes()) if cell.flags else ""


def flag_notes(cells: list[CellResult]) -> list[str]:
    """One line per flag: which cell and why."""
    return [f"! {c.label}: {f.reason}" for c in cells for f in c.flags]


def with_workload(cells: list[CellResult], columns: list[Metric]) -> list[Metric]:
    """The columns, plus the target and achieved rate of rate cells and goodput, where any cell has them."""
    extra = [m for m in ("request_rate", "achieved_rate", "peak_in_flight") if any(c.open_loop for c in cells)]
    extra += ["request_goodput"] if any(c.goodput for c in cells) else []
    return columns[:2] + [METRICS[k] for k in extra] + columns[2:] if extra else columns


def summary_table(cells: list[CellResult], columns: list[Metric] = CONSOLE_COLUMNS) -> str:
    """A plain-text table of the cells (latencies in ms), the flagged cells' reasons beneath."""
    columns = with_workload(cells, columns)
    rows = [[m.label for m in columns] + [FLAG_HEADER]]
    rows += [[m.text(c) for m in columns] + [flag_mark(c)] for c in cells]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.rjust(w) if i < len(columns) else v for i, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = flag_notes(cells)
    legend = "(latencies in ms; E2E is the mean; n/a: cannot be measured, see the flags"
    if any(c.open_loop for c in cells):
        legend += "; rate cells: conc is the cap on requests in flight, - for none; peak the most seen in flight"
    return "\n".join([*lines, legend + ")", *notes])
