"""Widgets that render engine data: no computation beyond laying it out."""

from __future__ import annotations

from textual.widgets import DataTable
from textual_plotext import PlotextPlot

from engine import curves
from engine.console import COLUMNS

# The console's columns (engine.console), minus a few that do not fit beside the charts.
CELL_COLUMNS = [c for c in COLUMNS if c[0] not in ("ok", "tot tok/s", "ITL p99", "tok/s/user")]


class CellTable(DataTable):
    """One row per finished cell, filled in place as cells finish."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(*(name for name, _, _ in CELL_COLUMNS))

    def add_cell(self, c: dict) -> None:
        self.add_row(*(f"{c['input_len']}/{c['output_len']}" if key is None else fmt.format(c[key])
                       for _, key, fmt in CELL_COLUMNS))  # fmt: skip

    def show(self, cells: list[dict]) -> None:
        self.clear()
        for c in cells:
            self.add_cell(c)


class CurvePlot(PlotextPlot):
    """The throughput-latency curves (engine.curves), one series per ISL/OSL."""

    def show(self, cells: list[dict], view: str = "latency") -> None:
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
