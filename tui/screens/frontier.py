"""A sweep's frontier: the variants table, then per ISL/OSL and axis the frontier's points, the best
variant per the profile's SLO, the cost note and the cells left off, all as engine.sweep.render
writes them for the terminal, with one frontier drawn (`v` draws the next). Enter on a variant opens
its run on the results screen."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from engine.sweep.compute import Frontier
from engine.sweep.render import (
    cost_lines,
    frontier_heading,
    frontier_rows,
    left_off_lines,
    plot_heading,
    shown_frontiers,
    slo_rows,
    sweep_heading,
    variant_rows,
)
from engine.sweep.slo import best_per_slo, recorded_slo
from tui.messages import OpenRun
from tui.widgets import FrontierPlot, TextTable


class FrontierScreen(Screen):
    SUB_TITLE = "sweep"
    BINDINGS = [
        Binding("v", "next_plot", "Next frontier"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, f: Frontier) -> None:
        super().__init__()
        self.f = f
        self.priced = f.gpu_hour_cost is not None
        self.slo = recorded_slo(f.source)
        self.fronts = shown_frontiers(f)
        self.plot_index = 0

    def compose(self) -> ComposeResult:
        yield Label(f"{sweep_heading(self.f)}  ({self.f.source.path})  |  enter: open a variant's run", markup=False)
        # Not focusable itself: the tables take focus in turn (tab), and it scrolls to the focused one.
        with VerticalScroll(id="frontier", can_focus=False):
            yield TextTable(id="variants")
            if self.fronts:
                yield Static("", id="plot-title", classes="frontier-heading", markup=False)
                yield FrontierPlot(id="frontier-plot")
            for front in self.fronts:
                yield Static(frontier_heading(front), classes="frontier-heading", markup=False)
                yield TextTable(classes="frontier-points")
            if self.slo is not None:
                yield Static(
                    f"best variant per ISL/OSL meeting {self.slo.describe()}:", classes="frontier-heading", markup=False
                )
                yield TextTable(id="best")
            notes = cost_lines(self.f) + left_off_lines(self.f)
            yield Static("\n".join(notes) or "no cell left off", id="left-off", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#variants", TextTable).show(variant_rows(self.f))
        for table, front in zip(self.query(".frontier-points").results(TextTable), self.fronts):
            table.show(frontier_rows(front, self.priced))
        self.show_plot()
        if self.slo is not None:
            self.query_one("#best", TextTable).show(slo_rows(best_per_slo(self.f, self.slo), self.slo, self.priced))

    def show_plot(self) -> None:
        if self.fronts:
            front = self.fronts[self.plot_index]
            more = f"  (v: next of {len(self.fronts)})" if len(self.fronts) > 1 else ""
            self.query_one("#plot-title", Static).update(plot_heading(front) + more)
            self.query_one(FrontierPlot).show(front, [v.name for v in self.f.source.variants])

    def action_next_plot(self) -> None:
        self.plot_index = (self.plot_index + 1) % max(len(self.fronts), 1)
        self.show_plot()

    @on(DataTable.RowSelected, "#variants")
    def _open_variant(self, event: DataTable.RowSelected) -> None:
        v = self.f.source.variants[event.cursor_row]
        if v.run is None:
            self.notify(f"variant {v.name} has no results yet ({v.status})", severity="warning")
            return
        self.post_message(OpenRun(Path(v.run.path)))
