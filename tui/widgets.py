"""Widgets that render engine data: no computation beyond laying it out."""

from __future__ import annotations

from textual.widgets import DataTable
from textual_plotext import PlotextPlot

from engine.report import curves
from engine.report.model import CellResult
from engine.report.table import COMPACT_COLUMNS, FLAG_HEADER, flag_mark


class CellTable(DataTable):
    """One row per finished cell, filled in place as cells finish; flagged cells marked '!'."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(*(m.label for m in COMPACT_COLUMNS), FLAG_HEADER)

    def add_cell(self, c: CellResult) -> None:
        self.add_row(*(m.text(c) for m in COMPACT_COLUMNS), flag_mark(c))

    def show(self, cells: list[CellResult]) -> None:
        self.clear()
        for c in cells:
            self.add_cell(c)


class CurvePlot(PlotextPlot):
    """The throughput-latency curves (engine.report.curves), one series per ISL/OSL."""

    def show(self, cells: list[CellResult], view: str = "latency") -> None:
        self.plt.clear_figure()
        curves.draw(self.plt, cells, view)
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
