"""A sweep in its own process (engine/sweep/child.py), and the front end's handle on it: followed,
stopped or left running exactly as a run is (engine/run/process.py), through the sweep folder's
events.jsonl and the pid in its sweep.json."""

from __future__ import annotations

from pathlib import Path

from engine.events import SweepFinished
from engine.profiles import ResolvedProfile
from engine.redact import Redactor, secret_values
from engine.run.childbase import PROFILE_FILE
from engine.run.process import RunProcess
from engine.run.session import client_env
from engine.server.launcher_base import profile_env
from engine.sweep.model import SweepFile, read_sweep, write_sweep
from engine.sweep.variants import VariantPlan


def create_sweep(sweep_dir: Path, profile: ResolvedProfile, plans: list[VariantPlan]) -> None:
    """The sweep folder before anything runs: its profile (secrets masked) and sweep.json, every variant pending."""
    redact = Redactor(secret_values(profile.recipe.args, {**profile_env(profile), **client_env()}))
    (sweep_dir / PROFILE_FILE).write_text(redact(profile.to_toml()))
    write_sweep(sweep_dir, SweepFile(profile=profile.name, variants=[p.record() for p in plans]))


class SweepProcess(RunProcess):
    finished = SweepFinished

    @classmethod
    def start_sweep(
        cls, profile: ResolvedProfile, sweep_dir: Path, *, tied: bool, resume: bool, env: dict[str, str]
    ) -> SweepProcess:
        """Start the sweep in `sweep_dir` (made by create_sweep, or one to resume). `tied`: it
        stops when this process ends; otherwise it outlives us."""

        def started(pid: int) -> None:
            write_sweep(sweep_dir, read_sweep(sweep_dir).model_copy(update={"pid": pid, "status": "running"}))

        return cls.spawn("engine.sweep.child", sweep_dir, profile, resume=resume, tied=tied, env=env, started=started)

    @classmethod
    def attach(cls, run_dir: Path) -> SweepProcess:
        return cls(run_dir, read_sweep(run_dir).pid)

    def _lost(self) -> SweepFinished:
        """The sweep process ended without its final event (killed outright): sweep.json corrected."""
        error = self.lost_error("sweep")
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
        return self.lost_event(status, [], error)
