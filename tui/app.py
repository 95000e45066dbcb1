"""The Textual app: screens for setup, the live run, results and the run browser. Presents the engine only."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from textual.app import App

from engine.profiles import ProfileError, ResolvedProfile
from engine.report.results import load_results
from tui.messages import OpenRun, ShowResults, StartRun
from tui.screens.live import LiveScreen
from tui.screens.prompts import PathPrompt
from tui.screens.results import ResultsScreen
from tui.screens.runs import RunsScreen
from tui.screens.setup import SetupScreen


class LLMBenchApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "llmbench-tui"

    def __init__(
        self, profile: ResolvedProfile, results_root: Path = Path("results"), attach: Path | None = None
    ) -> None:
        super().__init__()
        self.profile = profile
        self.results_root = results_root
        self.attach = attach  # a run folder to follow (`llmbench-tui attach`) instead of the setup screen

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        # The terminal went away (SSH dropped): the run is its own process and goes on.
        loop.add_signal_handler(signal.SIGHUP, self.terminal_lost)
        loop.add_signal_handler(signal.SIGTERM, self.stop_run_and_exit)
        # A raw-mode terminal sends no SIGINT for Ctrl-C: one comes from `kill -INT`, meant as SIGTERM.
        loop.add_signal_handler(signal.SIGINT, self.stop_run_and_exit)
        if self.attach is not None:
            self.push_screen(LiveScreen(self.profile, self.results_root, attach=self.attach))
        else:
            self.push_screen(SetupScreen(self.profile))

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    def _runs(self):
        return [s.run for s in self.screen_stack if isinstance(s, LiveScreen) and s.run is not None]

    def leave_runs_and_exit(self, message: str | None = None) -> None:
        """Exit, leaving any run going: stop following first (a follower thread would hold the exit)."""
        for run in self._runs():
            run.release()
        self.exit(message=message)

    def terminal_lost(self) -> None:
        """SIGHUP: nothing can be drawn or restored any more, and a clean exit can block on the dead
        terminal (seen in CI): stop following and leave at once; the run is its own process."""
        for run in self._runs():
            run.release()
        os._exit(0)

    def stop_run_and_exit(self) -> None:
        """SIGTERM, SIGINT: as headless, the run is stopped (it saves and stops its server by itself)."""
        for run in self._runs():
            run.stop()
        self.leave_runs_and_exit()

    def on_start_run(self, message: StartRun) -> None:
        self.profile = message.profile
        self.push_screen(LiveScreen(message.profile, self.results_root))

    def on_show_results(self, message: ShowResults) -> None:
        self.switch_screen(ResultsScreen(message.cells, message.title, message.results_dir))

    async def action_quit(self) -> None:
        # Mid-run, quitting asks first, then stops the load, saves and stops the server.
        if isinstance(self.screen, LiveScreen) and self.screen.run is not None and self.screen.run.running:
            self.screen.action_stop()
            return
        self.exit()

    def action_new_run(self) -> None:
        self.switch_screen(SetupScreen(self.profile))

    def action_open_results(self) -> None:
        def open_(path: str | None) -> None:
            if path:
                self.post_message(OpenRun(Path(path).expanduser()))

        self.push_screen(PathPrompt("Open a results folder:", str(self.results_root) + "/"), open_)

    def on_open_run(self, message: OpenRun) -> None:
        try:
            profile, summary = load_results(message.path)
        except (FileNotFoundError, ProfileError, ValueError) as exc:
            self.notify(str(exc), severity="error")
            return
        self.profile = profile
        title = f"{summary.profile or profile.name}: {summary.status} (saved)"
        self.push_screen(ResultsScreen(summary.cells, title, str(message.path)))

    def action_browse_runs(self) -> None:
        self.push_screen(RunsScreen(self.results_root))
