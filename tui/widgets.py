"""Widgets that render engine data: no computation beyond laying it out."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from engine.report import curves
from engine.report.catalog import RunEntry
from engine.report.model import CellResult
from engine.report.registry import Metric
from engine.report.table import FLAG_HEADER, compact_columns, flag_mark
from engine.report.worker_health import workers_line
from engine.sweep import render
from engine.sweep.catalog import SweepEntry
from engine.sweep.compute import AxisFrontier


class CellTable(DataTable):
    """One row per finished cell, filled in place as cells finish; flagged cells marked '!'. Its
    columns are the registry's compact ones for the cells shown: a cell that brings a new one
    (a load shape's, a prefix cache's) redraws the table."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cells: list[CellResult] = []
        self.shown: list[Metric] = []

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._redraw()

    def add_cell(self, c: CellResult) -> None:
        self.cells.append(c)
        if compact_columns(self.cells) != self.shown:
            self._redraw()
        else:
            self._add_row(c)

    def show(self, cells: list[CellResult]) -> None:
        self.cells = list(cells)
        self._redraw()

    def _redraw(self) -> None:
        self.clear(columns=True)
        self.shown = compact_columns(self.cells)
        self.add_columns(*(m.label for m in self.shown), FLAG_HEADER)
        for c in self.cells:
            self._add_row(c)

    def _add_row(self, c: CellResult) -> None:
        self.add_row(*(m.cell_text(c) for m in self.shown), flag_mark(c))


class WorkerHealthLine(Static):
    """One cell's load workers (engine.report.worker_health): the worst, then each one's lag, CPU,
    run-queue wait and host. Hidden for a cell the one in-process client ran."""

    def show_cell(self, cell: CellResult | None) -> None:
        line = workers_line(cell) if cell is not None else None
        self.display = line is not None
        self.update(f"{cell.label}  {line}" if line else "")


class CurvePlot(PlotextPlot):
    """The throughput-latency curves (engine.report.curves), one series per ISL/OSL."""

    def show(self, cells: list[CellResult], view: str = "latency") -> None:
        self.plt.clear_figure()
        curves.draw(self.plt, cells, view)
        self.refresh()

    def show_runs(self, runs: list[tuple[str, list[CellResult]]], view: str = "latency") -> None:
        """Several runs overlaid: one marker and colour per run (`runs`: name and cells)."""
        self.plt.clear_figure()
        curves.draw_runs(self.plt, runs, view)
        self.refresh()


class RunTable(DataTable):
    """The runs under a results root, one row per folder (keyed by its path); the marked ones are
    numbered in the order they were marked, the last one being the baseline."""

    COLUMNS = ("mark", "profile", "hardware", "model", "date", "status", "cells", "folder")

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for name in self.COLUMNS:
            self.add_column(name, key=name)

    def show(self, entries: list[RunEntry], marked: list[Path]) -> None:
        row = self.cursor_row
        self.clear()
        for e in entries:
            self.add_row(*_run_cells(e), key=str(e.path))
        self.show_marks(marked)
        if entries:
            self.move_cursor(row=min(row, len(entries) - 1))

    def show_marks(self, marked: list[Path]) -> None:
        for key in self.rows:
            path = Path(key.value)
            n = marked.index(path) + 1 if path in marked else 0
            text = "" if not n else f"{n} base" if n == len(marked) > 1 else str(n)
            self.update_cell(key, "mark", text, update_width=True)


def _run_cells(e: RunEntry) -> list[str]:
    """A run's row, mark left empty (an unreadable run keeps its row; its problem is listed below the table)."""
    s = e.summary
    if s is None:
        return ["", "?", "?", "?", "?", e.status, "?", e.path.name]
    date = (s.started_at or "?")[:16].replace("T", " ")
    cells = f"{e.cells_done}/{e.cells_planned}" if e.cells_planned else str(e.cells_done)
    return ["", s.profile or "?", s.hardware or "?", s.model_profile or "?", date, e.status, cells, e.path.name]


class SweepTable(DataTable):
    """The sweeps under a results root, one row per sweep folder (each holds a run folder per variant,
    not listed among the runs); hidden when there are none."""

    COLUMNS = ("sweep", "profile", "status", "variants", "created")

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(*self.COLUMNS)

    def show(self, entries: list[SweepEntry]) -> None:
        row = self.cursor_row
        self.clear()
        for e in entries:
            s = e.sweep
            created = (s.created if s else "?")[:16].replace("T", " ")
            self.add_row(e.path.name, s.profile if s else "?", e.status, e.progress, created, key=str(e.path))
        self.display = bool(entries)
        if entries:
            self.move_cursor(row=min(row, len(entries) - 1))


class TextTable(DataTable):
    """Rows of text, header first (engine.sweep.render's tables), as they are given."""

    def on_mount(self) -> None:
        self.cursor_type = "row"

    def show(self, rows: list[list[str]]) -> None:
        self.clear(columns=True)
        self.add_columns(*rows[0])
        for r in rows[1:]:
            self.add_row(*r)


class RatioTable(DataTable):
    """A comparison's ratios per cell (rows from engine.compare.ratios.table_rows), figures right-aligned."""

    def show(self, rows: list[list[str]]) -> None:
        self.clear(columns=True)
        self.add_columns(rows[0][0], *(Text(h, justify="right") for h in rows[0][1:]))
        for r in rows[1:]:
            self.add_row(r[0], *(Text(v, justify="right") for v in r[1:]))


class FrontierPlot(PlotextPlot):
    """One ISL/OSL's frontier on one axis (engine.sweep.render.draw): each variant's points in its own
    marker and colour, the frontier as a line through its points."""

    def show(self, front: AxisFrontier, variants: list[str]) -> None:
        self.plt.clear_figure()
        render.draw(self.plt, front, variants)
        self.refresh()


class RatePlot(PlotextPlot):
    """Live output tokens per second over the last minute."""

    def show(self, history: list[tuple[float, float]]) -> None:
        plt = self.plt
        plt.clear_figure()
        if history:
            t_end = history[-1][0]
            points = [(t - t_end, v) for t, v in history if t_end - t <= 60]
            plt.plot([p[0] for p in points], [p[1] for p in points], marker="braille")
        plt.title("output tok/s, last minute")
        plt.xlim(-60, 0)
        self.refresh()
