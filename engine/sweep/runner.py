"""Running a sweep: for each variant not finished yet, a run session (engine/run/session.py) into
its run folder (launch its server, run the grid, stop it), then the frontier.

Each variant's events go to its own events.jsonl (its folder is an ordinary run folder) and to the
sweep's, with the sweep's progress; sweep.json says after every step where each variant is. A
variant whose server fails to start or dies is recorded as failed, with why, and the sweep goes
on; a stop (SIGINT, SIGTERM) ends the variant running as it ends a run, and leaves it pending, so
`--resume` goes on with its unfinished cells (the run's own resume) and then the variants after it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from engine.events import (
    CellFinished,
    CellStarted,
    Event,
    Notice,
    Observer,
    RunFinished,
    SweepFinished,
    SweepProgress,
    VariantFinished,
)
from engine.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from engine.plan import build_plan
from engine.profiles import ProfileError, load_profile
from engine.report.results import read_summary
from engine.run.eventlog import EVENTS_FILE, EventLog
from engine.run.outcome import RunOutcome
from engine.run.resume import rounds_left
from engine.run.session import RunSession
from engine.run.unmask import unmask
from engine.sweep.frontier import write_frontier
from engine.sweep.model import SWEEP_FILE, SweepFile, Variant, read_sweep, write_sweep
from engine.sweep.progress import SweepClock
from engine.sweep.variants import VariantPlan


class SweepRunner:
    def __init__(self, sweep_dir: Path, plans: list[VariantPlan], observer: Observer):
        self.dir, self.plans, self.observer = sweep_dir, plans, observer
        self.sweep: SweepFile = read_sweep(sweep_dir)
        self.session: RunSession | None = None  # the variant running now
        self.stopping: str | None = None  # why the sweep was asked to stop
        grid = plans[0].profile.grid  # every variant runs the same grid
        self.cells = [] if grid.search else build_plan(grid)
        self.clock = SweepClock(len(self.cells), plans[0].profile.load.repeats)
        self.left: list[int] = []  # the variant running: a cell index per (cell, round) it has left

    def stop(self, why: str) -> None:
        """Stop the variant running now as a run is stopped; the variants after it do not start."""
        self.stopping = why
        if self.session is not None:
            self.session.stop_reason = f"interrupted: {why}"

    def _save(self, **changes) -> None:
        self.sweep = self.sweep.model_copy(update=changes)
        write_sweep(self.dir, self.sweep)

    def _set(self, name: str, **changes) -> None:
        self.sweep = self.sweep.with_variant(name, **changes)
        write_sweep(self.dir, self.sweep)

    async def run(self) -> int:
        self._save(status="running", pid=os.getpid())
        todo = [p for p in self.plans if not self.sweep.variant(p.name).finished]
        done_before = len(self.plans) - len(todo)
        for n, plan in enumerate(todo):
            if self.stopping:
                break
            await self._variant(done_before + n, plan, variants_after=len(todo) - n - 1)
        return self._finish()

    async def _variant(self, index: int, plan: VariantPlan, variants_after: int) -> None:
        record = self.sweep.variant(plan.name)
        run_dir = self.dir / record.run
        run_dir.mkdir(parents=True, exist_ok=True)
        resume = (run_dir / "summary.json").is_file() and (run_dir / "profile.toml").is_file()
        if resume and read_summary(run_dir / "summary.json").status == "completed":
            # It ended before sweep.json could say so: nothing left to run.
            self._record(plan.name, record, RunOutcome("completed", EXIT_OK, run_dir))
            return
        # Its secrets, masked in profile.toml, come from our environment (the front end checked
        # the sweep's); one that cannot be given again fails this variant, not the sweep.
        saved = str(run_dir / "profile.toml")
        try:
            profile = unmask(load_profile(saved), os.environ, saved) if resume else plan.profile
        except ProfileError as exc:
            self._record(plan.name, record, RunOutcome("failed", EXIT_BAD_INPUT, run_dir, error=str(exc)))
            return
        done = read_summary(run_dir / "summary.json").cells if resume else []
        self.left = [c.index for c, _ in rounds_left(self.cells, profile.load.repeats, done)]
        self._set(plan.name, status="running", error=None)
        self.session = session = RunSession(profile, self.observer, self.dir, run_dir=run_dir, resume=resume)
        if self.stopping:
            session.stop_reason = f"interrupted: {self.stopping}"
        own = EventLog(run_dir / EVENTS_FILE, session.redact, session.faults)
        session.observer = self._tee(own, index, plan.name, variants_after)
        eta = self.clock.eta_s(self.left, variants_after, starting=True)
        self.observer(SweepProgress(index + 1, len(self.plans), plan.name, 0, self.clock.cells, eta))
        try:
            outcome = await session.run()
        except asyncio.CancelledError:  # stopped between the session's own steps
            outcome = RunOutcome("interrupted", EXIT_INTERRUPTED, run_dir, error=self.stopping)
        finally:
            own.close()
            self.session = None
        self._record(plan.name, record, outcome)

    def _tee(self, own: EventLog, index: int, name: str, variants_after: int) -> Observer:
        """A variant's events: all to its own events.jsonl; to the sweep's, all but its end (a
        VariantFinished stands for it there), each cell's start with the sweep's progress."""

        def observe(event: Event) -> None:
            own(event)
            self.clock.observe(event)
            if isinstance(event, RunFinished):
                return
            self.observer(event)
            if isinstance(event, CellFinished) and event.cell.index in self.left:
                self.left.remove(event.cell.index)
            if isinstance(event, CellStarted):
                eta = self.clock.eta_s(self.left, variants_after)
                cells = event.total_cells
                self.observer(SweepProgress(index + 1, len(self.plans), name, event.cell.index + 1, cells, eta))

        return observe

    def _record(self, name: str, record: Variant, outcome: RunOutcome) -> None:
        if outcome.status == "completed":
            status, error = "done", None
        elif outcome.status == "interrupted" and self.stopping:
            status, error = "pending", None
        else:
            status = "failed"
            error = f"{outcome.error or outcome.status} (server log: {record.run}/server.log)"
        self._set(name, status=status, error=error)
        self.observer(VariantFinished(name, status, record.run, error))

    def _finish(self) -> int:
        failed = self.sweep.failed()
        if self.stopping:
            status, code, error = "interrupted", EXIT_INTERRUPTED, f"sweep interrupted: {self.stopping}"
        elif failed:
            status, code = "failed", EXIT_FAILED
            error = (
                f"{len(failed)} of {len(self.plans)} variants failed: "
                + "; ".join(f"{v.name}: {v.reason}" for v in failed)
                + " (whole reasons in sweep.json, each variant's server.log in its run folder)"
            )
        else:
            status, code, error = "completed", EXIT_OK, None
        self._save(status=status, pid=None)
        holds = (
            "each variant's status and the frontier"
            if not self.stopping and self._frontier()
            else "each variant's status"
        )
        wrote = [f"{self.dir / SWEEP_FILE} ({holds})"]
        self.observer(SweepFinished(status, str(self.dir), [], error, code, wrote=wrote))
        return code

    def _frontier(self) -> bool:
        """The frontier over every finished variant's cells, into sweep.json (engine/sweep/frontier.py);
        False where it could not be written (a warning says why)."""
        try:
            write_frontier(self.dir)
            self.sweep = read_sweep(self.dir)
            return True
        except Exception as exc:  # the variants' results stand without it; say why it is missing
            self.observer(Notice("warning", f"frontier not written: {exc.__class__.__name__}: {exc}"))
            return False
