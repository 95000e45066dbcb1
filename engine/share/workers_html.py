"""The report's Load workers section: how many worker processes sent the load and why, and for
each cell they shared, each worker's health with the worst one marked.

The figures and the choice of the worst worker are engine.report.worker_health's, the same the
console's and the TUI's per-worker line show, so every front end names the same worker.
"""

from __future__ import annotations

from engine.report.model import CLIENT_LIMIT, CLIENT_STARVED, CellResult
from engine.report.run_notes import WorkersNote
from engine.report.worker_health import worker_figures, worst_worker
from engine.share.markup import caption, flag_codes, na, table


def workers_meta(workers: WorkersNote | None) -> str | None:
    """'2 (chosen by the tool: ...)' for the run's metadata; None where the run did not record it."""
    if workers is None or workers.count is None:
        return None
    if workers.auto:
        return f"{workers.count} (chosen by the tool{': ' + workers.why if workers.why else ''})"
    return f"{workers.count} ({workers.why or 'set by the profile or --workers'})"


def workers_section(cells: list[CellResult], workers: WorkersNote | None) -> str:
    """Per cell run by several workers, one row per worker; "" when every cell had one sender."""
    shared = [(c, worker_figures(c)) for c in cells]
    shared = [(c, ws) for c, ws in shared if len(ws) > 1]
    if not shared:
        return ""
    with_host = any(w.host is not None for _, ws in shared for w in ws)
    with_offset = any(w.clock_offset_ms is not None for _, ws in shared for w in ws)
    header = ["cell", "worker", "pid", "lag p99 (ms)", "CPU (of a core)", "CPU wait", "start late (ms)"]
    header += (["host"] if with_host else []) + (["clock offset (ms)"] if with_offset else []) + ["flag"]
    rows, classes = [], []
    for c, ws in shared:
        worst = worst_worker(ws)
        for w in ws:
            row = [c.label, f"{w.name} (worst)" if w is worst else w.name, na(w.pid, "{:d}")]
            row += [na(w.lag_p99_ms), na(w.cpu_share, "{:.0%}"), na(w.run_queue_share, "{:.0%}")]
            row += [na(w.start_late_ms)]
            row += ([w.host or "n/a"] if with_host else []) + (
                [na(w.clock_offset_ms, "{:+.1f}")] if with_offset else []
            )
            row += [flag_codes(c, (CLIENT_LIMIT, CLIENT_STARVED)) if w is worst else ""]
            rows.append(row)
            classes.append("marked" if w is worst else "")
    note = (
        "A cell's lag and CPU-wait figures in the cells table are its worst worker's (in bold: the highest lag "
        "p99, then CPU wait); CPU is each worker's own time over the cell. start late: after the shared start. "
        "n/a: not measured (no schedstat on this kernel)"
        + ("; clock offset: the worker host's clock against the coordinator's" if with_offset else "")
        + "."
    )
    text_cols = (0, 1) + ((7,) if with_host else ())
    return "<h3>Load workers</h3>" + table(header, rows, text_columns=text_cols, row_classes=classes) + caption(note)
