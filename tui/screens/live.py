"""Live: the run as it happens. Renders engine.run.progress.RunProgress; owns no logic."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, RichLog
from textual.worker import Worker, WorkerState

from engine.events import CellFinished, LoadProgress, RunFinished
from engine.profiles import ResolvedProfile
from engine.run.process import RunProcess
from engine.run.progress import RunProgress
from tui.messages import EngineEvent, ShowResults
from tui.screens.prompts import Choice
from tui.widgets import CellTable, CurvePlot, RatePlot, WorkerHealthLine


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

    def __init__(
        self, profile: ResolvedProfile, results_root: Path, start: bool = True, attach: Path | None = None
    ) -> None:
        super().__init__()
        self.profile, self.results_root, self.autostart, self.attach_dir = profile, results_root, start, attach
        self.progress = RunProgress()
        self.run: RunProcess | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="status"):
            yield Label("", id="phase")
            yield Label("", id="counters")
            yield Label("", id="server")
        with Horizontal(id="charts"):
            yield RatePlot(id="rate")
            yield CurvePlot(id="curve")
        yield CellTable(id="cells")
        yield WorkerHealthLine(id="worker-health", markup=False)
        yield RichLog(id="log", max_lines=200, wrap=False)
        yield Footer()

    def on_mount(self) -> None:
        self.render_status()
        if self.attach_dir is not None:
            self.run = RunProcess.attach(self.attach_dir)
        elif self.autostart:
            # The run is its own process (it outlives this UI); we follow its events.jsonl.
            self.run = RunProcess.start(self.profile, self.results_root)
        if self.run is not None:
            self.follow(self.run)
        self.set_interval(1.0, self.render_status)  # elapsed time moves even between events

    @work(thread=True, exit_on_error=False)
    def follow(self, run: RunProcess) -> None:
        run.follow(lambda event: self.post_message(EngineEvent(event)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Following the run failed (its event log unreadable, say): say so, never sit silent.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            p = self.progress
            p.phase, p.detail = "failed", f"cannot follow the run: {error.__class__.__name__}: {error}"
            self.query_one("#log", RichLog).write(f"error: {p.detail}")
            self.render_status()

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
            table = self.query_one("#cells", CellTable)
            if len(table.cells) < len(self.progress.cells):
                table.add_cell(event.result)
            else:  # another round of a cell shown: its row made again
                table.show(self.progress.cells)
            self.query_one(WorkerHealthLine).show_cell(event.result)  # the latest cell's workers
            self.query_one("#curve", CurvePlot).show(self.progress.cells)
        elif isinstance(event, RunFinished):
            title = f"{self.profile.name}: {event.status}" + (f" ({event.error})" if event.error else "")
            self.post_message(ShowResults(self.progress.cells, title, event.results_dir))
        self.render_status()

    def render_status(self) -> None:
        p = self.progress
        cell = p.cell
        where = (
            f"cell {cell.index + 1}{f'/{p.total_cells}' if p.total_cells else ''} {cell.label}"
            + (f" round {p.round + 1}/{p.rounds}" if p.rounds else "")
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
        if hardware := p.hardware_line():
            line += f"  |  {hardware}"
        self.query_one("#server", Label).update(line)

    def on_unmount(self) -> None:
        # However the UI ends (quit, a lost terminal), the run goes on unless it was told to stop.
        if self.run is not None:
            self.run.release()

    def action_stop(self) -> None:
        if self.run is None or not self.run.running:
            self.app.exit()
            return

        def answer(choice: str | None) -> None:
            if self.run is None:
                return
            if choice == "s":
                self.query_one("#log", RichLog).write("stopping: saving partial results and stopping the server...")
                self.run.stop()
            elif choice == "l":
                self.app.leave_runs_and_exit(
                    f"The run goes on (pid {self.run.pid}): llmbench-tui attach {self.run.run_dir}"
                )

        self.app.push_screen(
            Choice(
                "The run is still going. Stop it, or leave it running without this window?",
                [("s", "stop it (partial results saved, server stopped)"), ("l", "leave it running")],
            ),
            answer,
        )
