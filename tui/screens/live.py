"""Live: the run as it happens. Renders engine.run.progress.RunProgress; owns no logic."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, RichLog

from engine.events import CellFinished, LoadProgress, RunFinished
from engine.profiles import ResolvedProfile
from engine.run.background import BackgroundRun
from engine.run.progress import RunProgress
from tui.messages import EngineEvent, ShowResults
from tui.screens.prompts import Confirm
from tui.widgets import CellTable, CurvePlot, RatePlot


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60:02d}:{seconds % 60:02d}"
    )


class LiveScreen(Screen):
    SUB_TITLE = "live"
    BINDINGS = [Binding("q", "stop", "Stop run"), Binding("ctrl+q", "stop", "Stop run", show=False)]

    def __init__(self, profile: ResolvedProfile, results_root: Path, start: bool = True) -> None:
        super().__init__()
        self.profile, self.results_root, self.autostart = profile, results_root, start
        self.progress = RunProgress()
        self.run: BackgroundRun | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="status"):
            yield Label("", id="phase")
            yield Label("", id="counters")
            yield Label("", id="server")
        with Horizontal(id="charts"):
            yield RatePlot(id="rate")
            yield CurvePlot(id="curve")
        yield CellTable(id="cells")
        yield RichLog(id="log", max_lines=200, wrap=False)
        yield Footer()

    def on_mount(self) -> None:
        self.render_status()
        if self.autostart:
            # The run has its own thread and loop; events come back as messages.
            self.run = BackgroundRun(
                self.profile, lambda e: self.post_message(EngineEvent(e)), self.results_root
            ).start()
        self.set_interval(1.0, self.render_status)  # elapsed time moves even between events

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        before = len(self.progress.log)
        self.progress.apply(event)
        log = self.query_one("#log", RichLog)
        for line in list(self.progress.log)[before:] if len(self.progress.log) > before else []:
            log.write(line)
        if isinstance(event, LoadProgress):
            self.query_one("#rate", RatePlot).show(list(self.progress.tps_history))
        elif isinstance(event, CellFinished):
            self.query_one("#cells", CellTable).add_cell(event.result)
            self.query_one("#curve", CurvePlot).show(self.progress.cells)
        elif isinstance(event, RunFinished):
            title = f"{self.profile.name}: {event.status}"
            self.post_message(ShowResults(self.progress.cells, title, event.results_dir))
        self.render_status()

    def render_status(self) -> None:
        p = self.progress
        run = self.run
        if run is not None and run.error is not None and p.status is None:
            # The run's thread ended in an error before it could say so through its events.
            p.status, p.phase, p.detail = "failed", "failed", f"{run.error.__class__.__name__}: {run.error}"
            self.query_one("#log", RichLog).write(f"error: {p.detail}")
        cell = p.cell
        where = (
            f"cell {cell.index + 1}/{p.total_cells} c={cell.concurrency} {cell.input_len}/{cell.output_len}"
            if cell
            else "no cell yet"
        )
        self.query_one("#phase", Label).update(f"[b]{p.phase}[/b] {p.detail}")
        self.query_one("#counters", Label).update(
            f"{where}  elapsed {_clock(p.elapsed_s)}  ETA {_clock(p.eta_s())}  |  "
            f"in flight {p.in_flight}  done {p.done}/{p.cell_total}  failed {p.failed}"
        )
        line = f"{p.live_tps:,.0f} output tok/s"
        if p.client_wait_share is not None:
            line += f"  client CPU wait {p.client_wait_share:.0%}"
        s = p.server
        if s is not None:
            kv = f"{100 * s.kv_cache_usage:.0f}%" if s.kv_cache_usage is not None else "?"
            line += f"  |  server: KV cache {kv}  running {s.running or 0:.0f}  waiting {s.waiting or 0:.0f}"
        self.query_one("#server", Label).update(line)

    def on_unmount(self) -> None:
        # Leaving the app mid-run (however): stop the load, save, stop the server, then go.
        if self.run is not None and self.run.running:
            self.run.cancel()
            self.run.join(120)

    def action_stop(self) -> None:
        if self.run is None or not self.run.running:
            self.app.exit()
            return

        def answer(stop: bool | None) -> None:
            if stop and self.run is not None:
                self.query_one("#log", RichLog).write("stopping: saving partial results and stopping the server...")
                self.run.cancel()

        self.app.push_screen(Confirm("Stop the run? Partial results are saved and the server is stopped."), answer)
