"""A sweep in its own process (engine/sweep/child.py), and the front end's handle on it: followed,
stopped or left running exactly as a run is (engine/run/process.py), through the sweep folder's
events.jsonl and the pid in its sweep.json."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from engine.events import SweepFinished
from engine.exits import EXIT_FAILED, EXIT_INTERRUPTED
from engine.profiles import ResolvedProfile
from engine.redact import Redactor, secret_values
from engine.run.eventlog import EVENTS_FILE
from engine.run.process import RUN_LOG, RunProcess, log_tail
from engine.run.session import client_env
from engine.server.launcher_base import profile_env
from engine.spawn import python_argv
from engine.sweep.child import PROFILE_FILE
from engine.sweep.model import SweepFile, read_sweep, write_sweep
from engine.sweep.variants import VariantPlan


def create_sweep(sweep_dir: Path, profile: ResolvedProfile, plans: list[VariantPlan]) -> None:
    """The sweep folder before anything runs: its profile (secrets masked) and sweep.json, every variant pending."""
    redact = Redactor(secret_values(profile.recipe.args, {**profile_env(profile), **client_env()}))
    (sweep_dir / PROFILE_FILE).write_text(redact(profile.to_toml()))
    write_sweep(sweep_dir, SweepFile(profile=profile.name, variants=[p.record() for p in plans]))


class SweepProcess(RunProcess):
    @classmethod
    def start_sweep(
        cls, profile: ResolvedProfile, sweep_dir: Path, *, tied: bool, resume: bool, env: dict[str, str]
    ) -> SweepProcess:
        """Start the sweep in `sweep_dir` (made by create_sweep, or one to resume). `tied`: it
        stops when this process ends; otherwise it outlives us."""
        events = sweep_dir / EVENTS_FILE
        offset = events.stat().st_size if events.exists() else 0
        argv = python_argv("engine.sweep.child", str(sweep_dir), *["--resume"] * resume, *["--tied"] * tied)
        with open(sweep_dir / RUN_LOG, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # SIGHUP and the terminal's Ctrl-C are the front end's
                env={**os.environ, **env},
            )
        # On stdin, never on disk: a resumed sweep's secrets too, given again (profile.toml has them masked).
        proc.stdin.write(profile.model_dump_json().encode() + b"\n")
        proc.stdin.flush()
        write_sweep(sweep_dir, read_sweep(sweep_dir).model_copy(update={"pid": proc.pid, "status": "running"}))
        if not tied:
            proc.stdin.close()
        return cls(sweep_dir, proc.pid, proc, offset)

    @classmethod
    def attach(cls, run_dir: Path) -> SweepProcess:
        return cls(run_dir, read_sweep(run_dir).pid)

    def _lost(self) -> SweepFinished:
        """The sweep process ended without its final event (killed outright): sweep.json corrected."""
        code = self._proc.poll() if self._proc is not None else None
        how = f"exit code {code}" if code is not None and code >= 0 else f"signal {-code}" if code else "unknown"
        tail = log_tail(self.run_dir / RUN_LOG)
        error = f"the sweep process (pid {self.pid}) ended without a final status ({how})" + (
            f"; last lines of {self.run_dir / RUN_LOG}:\n{tail}" if tail else ""
        )
        status = "failed"
        try:
            sweep = read_sweep(self.run_dir)
            if sweep.status == "running":
                running = [v.name for v in sweep.variants if v.status == "running"]
                for name in running:  # its run folder says how far it got; a resume goes on from there
                    sweep = sweep.with_variant(name, status="pending")
                write_sweep(self.run_dir, sweep.model_copy(update={"status": "failed", "pid": None}))
            else:
                status = sweep.status
        except (OSError, ValueError):
            pass
        code = EXIT_INTERRUPTED if status == "interrupted" else EXIT_FAILED
        return SweepFinished(status, str(self.run_dir), [], error, code)
