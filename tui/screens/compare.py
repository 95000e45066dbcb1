"""Compare: the runs' curves overlaid, then, for each run against the baseline (the last one), the
computed summary sentence, the ratios per cell, geomeans, iso-latency and the cells left out."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from engine.compare.ratios import against_last, summary_sentence, table_rows
from engine.compare.render import counted_lines, heading, iso_lines, left_out_lines, stats_lines
from engine.compare.sources import Run
from engine.report.curves import OVERLAY_VIEWS
from tui.widgets import CurvePlot, RatioTable


class CompareScreen(Screen):
    SUB_TITLE = "compare"
    BINDINGS = [
        Binding("v", "next_view", "Switch view"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, runs: list[Run], count_flagged: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.runs = runs
        self.comparisons = against_last(runs, count_flagged)
        self.view_index = 0

    def compose(self) -> ComposeResult:
        yield Label("", id="compare-title", markup=False)
        yield CurvePlot(id="overlay")
        with VerticalScroll(id="comparisons"):
            for c in self.comparisons:
                yield Static(heading(c), classes="compare-heading", markup=False)
                yield Static(summary_sentence(c), classes="compare-summary", markup=False)
                yield RatioTable(classes="ratios")
                yield Static("\n".join([*stats_lines(c), *iso_lines(c)]), classes="compare-stats", markup=False)
                yield Static("\n".join([*counted_lines(c), *left_out_lines(c)]), classes="left-out", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        for table, c in zip(self.query(RatioTable), self.comparisons):
            table.show(table_rows(c))
        self.show_view()

    def show_view(self) -> None:
        view = OVERLAY_VIEWS[self.view_index]
        others = ", ".join(r.name for r in self.runs[:-1])
        self.query_one("#compare-title", Label).update(f"{others} vs {self.runs[-1].name}  |  {view.title}")
        self.query_one("#overlay", CurvePlot).show_runs([(r.name, r.cells) for r in self.runs], view.name)

    def action_next_view(self) -> None:
        self.view_index = (self.view_index + 1) % len(OVERLAY_VIEWS)
        self.show_view()
