"""A run in its own process, and the front end's handle on it.

The run process (engine/run/child.py) is started in a new session, so a lost terminal or SSH
connection does not reach it, and writes everything it does to events.jsonl in its results
folder. A front end follows that file: from the start when it launched the run, or later with
`attach`. The load's timestamps never share a process, a GIL or an event loop with the UI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine import __version__
from engine.events import Event, RunFinished
from engine.exits import EXIT_FAILED, EXIT_INTERRUPTED
from engine.profiles import ResolvedProfile
from engine.report.catalog import run_process_alive
from engine.report.model import CellResult, RunSummary
from engine.report.results import SummaryFile, new_run_dir, read_summary
from engine.run.eventlog import EVENTS_FILE, follow
from engine.spawn import python_argv

RUN_LOG = "run.log"  # the run process's own stdout and stderr (a crash's traceback lands here)


class RunProcess:
    """A handle on a run process: follow its events, stop it, or leave it running."""

    finished = RunFinished  # the type of its final event

    def __init__(self, run_dir: Path, pid: int | None, proc: subprocess.Popen | None = None, offset: int = 0):
        self.run_dir, self.pid, self._proc = run_dir, pid, proc
        self.offset = offset  # where this attempt's events start (a resume appends to the earlier ones)
        self.stop_following = threading.Event()

    @classmethod
    def start(
        cls,
        profile: ResolvedProfile,
        results_root: Path,
        *,
        tied: bool = False,
        resume_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> RunProcess:
        """Start a run (or resume the one in `resume_dir`). `tied`: the run stops when this process
        ends (a foreground headless run); otherwise it outlives us (the TUI, --detach)."""
        run_dir = resume_dir or new_run_dir(results_root, profile.name)

        def started(pid: int) -> None:
            if not resume_dir:
                _first_summary(run_dir, profile, pid)

        resume = bool(resume_dir)
        return cls.spawn("engine.run.child", run_dir, profile, resume=resume, tied=tied, env=env, started=started)

    @classmethod
    def spawn(
        cls,
        module: str,
        folder: Path,
        profile: ResolvedProfile,
        *,
        resume: bool,
        tied: bool,
        env: dict[str, str] | None,
        started: Callable[[int], None],
    ) -> RunProcess:
        """Start `module` (a run or sweep process) on `folder` in a new session, its output in
        run.log; hand it the profile on stdin, then `started(pid)` records it.
        Not `tied`: stdin is closed (no lifeline), and it outlives us."""
        events = folder / EVENTS_FILE
        offset = events.stat().st_size if events.exists() else 0
        argv = python_argv(module, str(folder), *["--resume"] * resume, *["--tied"] * tied)
        with open(folder / RUN_LOG, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # SIGHUP and the terminal's Ctrl-C are the front end's
                env={**os.environ, **(env or {})},
            )
        # On stdin, never on disk: a resume's secrets too, given again (profile.toml has them masked).
        proc.stdin.write(profile.model_dump_json().encode() + b"\n")
        proc.stdin.flush()
        started(proc.pid)
        if not tied:
            proc.stdin.close()
        return cls(folder, proc.pid, proc, offset)

    @classmethod
    def attach(cls, run_dir: Path) -> RunProcess:
        """A handle on a run started elsewhere (running or finished)."""
        summary = read_summary(run_dir / "summary.json")
        return cls(run_dir, summary.pid)

    @property
    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return run_process_alive(self.pid, self.run_dir)

    def follow(self, observer: Callable[[Event], None]) -> RunFinished:
        """Hand every event to `observer`, from the first, until the run ends (or `stop_following`
        is set: then the run goes on). Returns the final event; when the process ended without
        one (killed outright), one made from what is known, and the summary is corrected."""
        final = None
        for event in follow(self.run_dir / EVENTS_FILE, lambda: self.running, self.stop_following, offset=self.offset):
            observer(event)
            if isinstance(event, RunFinished):
                final = event
        if final is None and not self.stop_following.is_set():
            final = self._lost()
            observer(final)
        if self._proc is not None and final is not None:
            self._proc.wait()
        return final

    def _lost(self) -> RunFinished:
        error = self.lost_error("run")
        cells, status = [], "failed"
        try:
            summary = read_summary(self.run_dir / "summary.json")
            cells = summary.cells
            if summary.status == "running":
                summary.status, summary.error, summary.pid = "failed", error, None
                SummaryFile(self.run_dir).write(summary)
            elif summary.status != "completed":  # its final status was written, its last events were not (a full disk)
                status, error = summary.status, summary.error or error
        except (OSError, ValueError):
            pass
        return self.lost_event(status, cells, error)

    def lost_error(self, what: str) -> str:
        """Why the `what` (run or sweep) process ended without its final event: its exit code or
        signal, and the last lines of its run.log."""
        code = self._proc.poll() if self._proc is not None else None
        how = f"exit code {code}" if code is not None and code >= 0 else f"signal {-code}" if code else "unknown"
        tail = log_tail(self.run_dir / RUN_LOG)
        return f"the {what} process (pid {self.pid}) ended without a final status ({how})" + (
            f"; last lines of {self.run_dir / RUN_LOG}:\n{tail}" if tail else ""
        )

    def lost_event(self, status: str, cells: list[CellResult], error: str) -> RunFinished:
        """The final event of a process that ended without one, its exit code read from its status."""
        code = EXIT_INTERRUPTED if status == "interrupted" else EXIT_FAILED
        return self.finished(status, str(self.run_dir), cells, error, code)

    def stop(self) -> None:
        """Ask the run to stop: partial results saved, server stopped, status 'interrupted'."""
        if self.pid and self.running:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def release(self) -> None:
        """Stop following; the run goes on without us."""
        self.stop_following.set()


def _first_summary(run_dir: Path, profile: ResolvedProfile, pid: int) -> None:
    """A summary.json at once, so `ls` and `attach` see the run from its first second (the run
    process writes the full one when it has started). Created only if absent."""
    summary = RunSummary(
        tool=f"llmbench-tui {__version__}",
        profile=profile.name,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        mode=profile.mode,
        hardware=profile.hardware.name,
        pid=pid,
    )
    SummaryFile(run_dir).create(summary)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
