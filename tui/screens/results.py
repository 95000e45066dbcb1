"""Results: the curves and the cell table of a finished or saved run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Label

from engine.curves import VIEWS
from tui.widgets import CellTable, CurvePlot


class ResultsScreen(Screen):
    SUB_TITLE = "results"
    BINDINGS = [
        Binding("v", "next_view", "Switch view"),
        Binding("o", "app.open_results", "Open results"),
        Binding("n", "app.new_run", "New run"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, cells: list[dict], title: str, results_dir: str | None) -> None:
        super().__init__()
        self.cells, self.title_text, self.results_dir = cells, title, results_dir
        self.view_index = 0

    def compose(self) -> ComposeResult:
        yield Label(f"{self.title_text}" + (f"  ({self.results_dir})" if self.results_dir else ""), id="results-title")
        yield CurvePlot(id="curve")
        yield CellTable(id="cells")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cells", CellTable).show(self.cells)
        self.show_view()

    def show_view(self) -> None:
        self.query_one("#curve", CurvePlot).show(self.cells, VIEWS[self.view_index].name)

    def action_next_view(self) -> None:
        self.view_index = (self.view_index + 1) % len(VIEWS)
        self.show_view()
