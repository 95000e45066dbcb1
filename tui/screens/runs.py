"""Run browser: the sweeps and the runs under the results root; open a sweep's frontier or a run, or
mark two or more runs and compare them."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from engine.compare.sources import SourceError, load_runs
from engine.report.catalog import RunEntry, scan_runs
from engine.sweep.catalog import SweepEntry, scan_sweeps
from engine.sweep.compute import frontier
from engine.sweep.source import load_sweep
from tui.messages import OpenRun
from tui.screens.compare import CompareScreen
from tui.screens.frontier import FrontierScreen
from tui.widgets import RunTable, SweepTable


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
        self.sweeps: list[SweepEntry] = []
        self.marked: list[Path] = []  # in the order marked: the last is the baseline

    def compose(self) -> ComposeResult:
        yield Label("", id="runs-title", markup=False)
        yield SweepTable(id="sweeps")
        yield RunTable(id="runs")
        yield Static("", id="run-problems", markup=False)
        yield Static("", id="run-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.action_rescan()
        # The sweeps first where there are any; their table is hidden (and cannot hold focus) otherwise.
        (self.query_one(SweepTable) if self.sweeps else self.query_one(RunTable)).focus()

    def action_rescan(self) -> None:
        self.entries = scan_runs(self.root)
        self.marked = [p for p in self.marked if p in {e.path for e in self.entries}]
        self.query_one(RunTable).show(self.entries, self.marked)
        self.sweeps = scan_sweeps(self.root)
        self.query_one(SweepTable).show(self.sweeps)
        # A problem's first line (pydantic's run on, with a link); opening the folder shows all of it.
        problems = [f"! {e.problem.splitlines()[0]}" for e in [*self.sweeps, *self.entries] if e.problem]
        self.query_one("#run-problems", Static).update("\n".join(problems))
        sweeps = f"{len(self.sweeps)} sweeps and " if self.sweeps else ""
        keys = "enter: open  space: mark  c: compare the marked" + ("  tab: sweeps/runs" if self.sweeps else "")
        self.query_one("#runs-title", Label).update(f"{sweeps}{len(self.entries)} runs under {self.root}  |  {keys}")
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

    @on(DataTable.RowHighlighted, "#runs")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    @on(DataTable.RowHighlighted, "#sweeps")
    def _sweep_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The sweep's folder and why each failed variant failed."""
        e = self.sweeps[event.cursor_row]
        failed = [f"{v.name} failed: {v.reason}" for v in e.sweep.failed()] if e.sweep else []
        self.query_one("#run-detail", Static).update("\n".join([str(e.path), *failed]))

    @on(DataTable.RowSelected, "#runs")
    def _open_run(self, event: DataTable.RowSelected) -> None:
        e = self.entries[event.cursor_row]
        if not self.refuse_unreadable(e):
            self.post_message(OpenRun(e.path))

    @on(DataTable.RowSelected, "#sweeps")
    def _open_sweep(self, event: DataTable.RowSelected) -> None:
        e = self.sweeps[event.cursor_row]
        try:
            f = frontier(load_sweep(e.path))
        except (SourceError, ValueError, OSError) as exc:
            self.notify(f"{e.path.name} cannot be read: {exc}", severity="error")
            return
        self.app.push_screen(FrontierScreen(f))
