"""Results: the curves and the cell table of a finished or saved run."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from engine.report.curves import VIEWS
from engine.report.model import CellResult
from engine.report.table import flag_notes
from tui.widgets import CellTable, CurvePlot, WorkerHealthLine


class ResultsScreen(Screen):
    SUB_TITLE = "results"
    BINDINGS = [
        Binding("v", "next_view", "Switch view"),
        Binding("o", "app.open_results", "Open results"),
        Binding("b", "app.browse_runs", "Browse runs"),
        Binding("escape", "app.pop_screen", "Back", show=False),
        Binding("n", "app.new_run", "New run"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, cells: list[CellResult], title: str, results_dir: str | None) -> None:
        super().__init__()
        self.cells, self.title_text, self.results_dir = cells, title, results_dir
        self.view_index = 0

    def compose(self) -> ComposeResult:
        yield Label("", id="results-title")
        yield CurvePlot(id="curve")
        yield CellTable(id="cells")
        yield WorkerHealthLine(id="worker-health", markup=False)
        yield Static("\n".join(flag_notes(self.cells)), id="flags", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cells", CellTable).show(self.cells)
        self.query_one(WorkerHealthLine).show_cell(self.cells[0] if self.cells else None)
        self.show_view()

    @on(DataTable.RowHighlighted, "#cells")
    def _cell_selected(self, event: DataTable.RowHighlighted) -> None:
        """The selected cell's load workers, under the table."""
        if 0 <= event.cursor_row < len(self.cells):
            self.query_one(WorkerHealthLine).show_cell(self.cells[event.cursor_row])

    def show_view(self) -> None:
        view = VIEWS[self.view_index]
        where = f"  ({self.results_dir})" if self.results_dir else ""
        self.query_one("#results-title", Label).update(f"{self.title_text}{where}  |  {view.title}")
        self.query_one("#curve", CurvePlot).show(self.cells, view.name)

    def action_next_view(self) -> None:
        self.view_index = (self.view_index + 1) % len(VIEWS)
        self.show_view()
