"""The run process: one run, in its own session, its events appended to events.jsonl.

Started by engine/run/process.py as `python -c ... RUN_DIR [--resume] [--tied]`: the resolved
profile arrives on stdin as one JSON line (its secrets never touch the disk; a resumed run's are given
again, engine/run/unmask.py). SIGINT and SIGTERM stop it cleanly (partial results saved, the
server stopped, exit 130); a lost terminal (SIGHUP) does not concern it. `--tied`: stdin stays
open as a lifeline from a foreground front end, and the run stops as on SIGINT when it closes
(the front end died, even by SIGKILL).
"""

from __future__ import annotations

from engine.events import Notice
from engine.run.childbase import child_exit, child_start, stop_on_request
from engine.run.eventlog import EVENTS_FILE, EventLog
from engine.run.session import RunSession


async def _run(runner: RunSession, tied: bool) -> int:
    def on_stop(why: str) -> None:
        runner.observer(Notice("warning", f"{why}: stopping the load, saving partial results, stopping the server"))
        runner.stop_reason = f"interrupted: {why}"

    stop_on_request(on_stop, tied, "run")
    outcome = await runner.run()
    return outcome.exit_code


def main(argv: list[str] | None = None) -> None:
    start = child_start("llmbench-tui run process", "run_dir", argv)
    runner = RunSession(start.profile, lambda e: None, start.folder.parent, run_dir=start.folder, resume=start.resume)
    events = EventLog(start.folder / EVENTS_FILE, runner.redact, runner.faults)
    runner.observer = events
    child_exit(_run(runner, start.tied), events)


if __name__ == "__main__":
    main()
