"""Cells as rows: which metrics each front end shows, and the plain-text table of the console."""

from __future__ import annotations

from engine.report.model import CellResult
from engine.report.registry import Metric, Table, columns

FLAG_HEADER = "flag"


def compact_columns(cells: list[CellResult]) -> list[Metric]:
    """The TUI's narrower table (it sits beside the charts): its fixed columns, and a load shape's or a
    prefix cache's where some of `cells` has them."""
    return columns(Table.COMPACT, cells)


def flag_mark(cell: CellResult) -> str:
    """'!' and the flag codes, for a table's last column ('' when the cell is clean)."""
    return "! " + ",".join(dict.fromkeys(cell.flag_codes())) if cell.flags else ""


def flag_notes(cells: list[CellResult]) -> list[str]:
    """One line per flag: which cell and why."""
    return [f"! {c.label}: {f.reason}" for c in cells for f in c.flags]


def summary_table(cells: list[CellResult]) -> str:
    """A plain-text table of the cells (latencies in ms), the flagged cells' reasons beneath; a rate
    cell's columns (target and achieved rate, goodput) where a cell has them."""
    shown = columns(Table.CONSOLE, cells)
    rows = [[m.label for m in shown] + [FLAG_HEADER]]
    rows += [[m.cell_text(c) for m in shown] + [flag_mark(c)] for c in cells]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.rjust(w) if i < len(shown) else v for i, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = flag_notes(cells)
    legend = "(latencies in ms; E2E is the mean; n/a: cannot be measured, see the flags"
    if any(c.open_loop for c in cells):
        legend += "; rate cells: conc is the cap on requests in flight, - for none; peak the most seen in flight"
    if any(c.steady is not None for c in cells):
        legend += "; steady: the share of the cell in which the load held its target, steady tok/s over it"
    return "\n".join([*lines, legend + ")", *notes])
