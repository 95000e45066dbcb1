"""Run browser: the runs under the results root; open one, or mark two or more and compare them."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from engine.compare.sources import SourceError, load_runs
from engine.report.catalog import RunEntry, scan_runs
from tui.messages import OpenRun
from tui.screens.compare import CompareScreen
from tui.widgets import RunTable


class RunsScreen(Screen):
    SUB_TITLE = "runs"
    BINDINGS = [
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare marked"),
        Binding("r", "rescan", "Rescan"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.entries: list[RunEntry] = []
        self.marked: list[Path] = []  # in the order marked: the last is the baseline

    def compose(self) -> ComposeResult:
        yield Label("", id="runs-title", markup=False)
        yield RunTable(id="runs")
        yield Static("", id="run-problems", markup=False)
        yield Static("", id="run-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.action_rescan()

    def action_rescan(self) -> None:
        self.entries = scan_runs(self.root)
        self.marked = [p for p in self.marked if p in {e.path for e in self.entries}]
        self.query_one(RunTable).show(self.entries, self.marked)
        problems = [f"! {e.problem}" for e in self.entries if e.problem]
        self.query_one("#run-problems", Static).update("\n".join(problems))
        self.query_one("#runs-title", Label).update(
            f"{len(self.entries)} runs under {self.root}  |  enter: open  space: mark  c: compare the marked"
        )
        self.show_detail()

    def current(self) -> RunEntry | None:
        # Rows are added in the order of self.entries and never sorted: the cursor row indexes it.
        return self.entries[self.query_one(RunTable).cursor_row] if self.entries else None

    def show_detail(self) -> None:
        e = self.current()
        lines = []
        if e is not None:
            lines.append(str(e.path))
            if e.summary and e.summary.error:
                lines.append(f"error: {e.summary.error}")
        if self.marked:
            names = ", ".join(f"{i}. {p.name}" for i, p in enumerate(self.marked, 1))
            lines.append(f"marked: {names} (each compared with the last marked, the baseline)")
        else:
            lines.append("mark two or more runs with space; each is compared with the last one marked")
        self.query_one("#run-detail", Static).update("\n".join(lines))

    def refuse_unreadable(self, e: RunEntry) -> bool:
        if e.summary is None:
            self.notify(f"{e.path.name} cannot be read: {e.problem}", severity="error")
            return True
        return False

    def action_mark(self) -> None:
        e = self.current()
        if e is None or self.refuse_unreadable(e):
            return
        if e.path in self.marked:
            self.marked.remove(e.path)
        else:
            self.marked.append(e.path)
        self.query_one(RunTable).show_marks(self.marked)
        self.show_detail()

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify("mark two or more runs with space first", severity="warning")
            return
        try:
            runs = load_runs(self.marked)
        except (SourceError, ValueError, OSError) as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(CompareScreen(runs))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        e = self.entries[event.cursor_row]
        if not self.refuse_unreadable(e):
            self.post_message(OpenRun(e.path))
