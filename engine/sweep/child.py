"""The sweep process: every variant of one sweep, in its own session (a lost terminal or SSH
connection does not reach it), its events appended to the sweep folder's events.jsonl.

Started by engine/sweep/process.py as `python -c ... SWEEP_DIR [--resume] [--tied]`: the resolved
profile arrives on stdin as one JSON line (its secrets never touch the disk; a resumed sweep's are given
again, engine/run/unmask.py). SIGINT and SIGTERM stop it as they stop a run (the variant
running keeps its partial results and stays pending; exit 130). `--tied`: stdin is a lifeline from
a foreground front end, as for a run (engine/run/child.py).
"""

from __future__ import annotations

from engine.events import Notice
from engine.redact import Redactor, secret_values
from engine.run.childbase import PROFILE_FILE, child_exit, child_start, stop_on_request
from engine.run.eventlog import EVENTS_FILE, EventLog
from engine.run.session import client_env
from engine.server.launcher_base import profile_env
from engine.sweep.runner import SweepRunner
from engine.sweep.variants import expand


async def _run(runner: SweepRunner, tied: bool) -> int:
    def on_stop(why: str) -> None:
        runner.observer(Notice("warning", f"{why}: stopping the variant running, saving its partial results"))
        runner.stop(why)

    stop_on_request(on_stop, tied, "sweep")
    return await runner.run()


def main(argv: list[str] | None = None) -> None:
    start = child_start("llmbench-tui sweep process", "sweep_dir", argv)
    profile, sweep_dir = start.profile, start.folder
    redact = Redactor(secret_values(profile.recipe.args, {**profile_env(profile), **client_env()}))
    events = EventLog(sweep_dir / EVENTS_FILE, redact)
    runner = SweepRunner(sweep_dir, expand(profile, str(sweep_dir / PROFILE_FILE)), events)
    child_exit(_run(runner, start.tied), events)


if __name__ == "__main__":
    main()
