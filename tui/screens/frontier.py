"""A sweep's frontier: the variants table, then per ISL/OSL and axis the frontier's points, the best
variant per the profile's SLO, the cost note and the cells left off, all as engine.sweep.render
writes them for the terminal. Enter on a variant opens its run on the results screen."""

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
    shown_frontiers,
    slo_rows,
    sweep_heading,
    variant_rows,
)
from engine.sweep.slo import best_per_slo, recorded_slo
from tui.messages import OpenRun
from tui.widgets import TextTable


class FrontierScreen(Screen):
    SUB_TITLE = "sweep"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, f: Frontier) -> None:
        super().__init__()
        self.f = f
        self.priced = f.gpu_hour_cost is not None
        self.slo = recorded_slo(f.source)

    def compose(self) -> ComposeResult:
        yield Label(f"{sweep_heading(self.f)}  ({self.f.source.path})  |  enter: open a variant's run", markup=False)
        # Not focusable itself: the tables take focus in turn (tab), and it scrolls to the focused one.
        with VerticalScroll(id="frontier", can_focus=False):
            yield TextTable(id="variants")
            for front in shown_frontiers(self.f):
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
        for table, front in zip(self.query(".frontier-points").results(TextTable), shown_frontiers(self.f)):
            table.show(frontier_rows(front, self.priced))
        if self.slo is not None:
            self.query_one("#best", TextTable).show(slo_rows(best_per_slo(self.f, self.slo), self.slo, self.priced))

    @on(DataTable.RowSelected, "#variants")
    def _open_variant(self, event: DataTable.RowSelected) -> None:
        v = self.f.source.variants[event.cursor_row]
        if v.run is None:
            self.notify(f"variant {v.name} has no results yet ({v.status})", severity="warning")
            return
        self.post_message(OpenRun(Path(v.run.path)))
