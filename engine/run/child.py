"""The run process: one run, in its own session, its events appended to events.jsonl.

Started by engine/run/process.py as `python -c ... RUN_DIR [--resume] [--tied]`: the resolved
profile arrives on stdin as one JSON line (its secrets never touch the disk), a resumed run's too
(its profile.toml has them masked; the front end gives them again). SIGINT and SIGTERM stop it
cleanly (partial results saved, the server stopped, exit 130); a lost terminal (SIGHUP) does not
concern it. `--tied`: stdin stays open as a lifeline from a foreground front end, and the run
stops as on SIGINT when it closes (the front end died, even by SIGKILL).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from engine.events import Notice
from engine.loop import run as run_loop
from engine.profiles import ResolvedProfile
from engine.run.eventlog import EVENTS_FILE, EventLog
from engine.run.session import RunSession


async def _run(runner: RunSession, tied: bool) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def stop(why: str) -> None:
        runner.observer(Notice("warning", f"{why}: stopping the load, saving partial results, stopping the server"))
        runner.stop_reason = f"interrupted: {why}"
        task.cancel()
        for s in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the clean-up short
            loop.add_signal_handler(s, lambda: None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, f"{signal.Signals(sig).name} received")
    if tied:

        def lifeline() -> None:
            if not os.read(0, 4096):
                loop.remove_reader(0)
                stop("the front end that started this run went away")

        loop.add_reader(0, lifeline)
    outcome = await runner.run()
    return outcome.exit_code


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="llmbench-tui run process")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--tied", action="store_true")
    args = p.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no terminal of ours to lose
    # Always from stdin: a resumed run's profile.toml has its secrets masked (engine/run/unmask.py).
    profile = ResolvedProfile.model_validate_json(sys.stdin.buffer.readline())
    runner = RunSession(profile, lambda e: None, args.run_dir.parent, run_dir=args.run_dir, resume=args.resume)
    events = EventLog(args.run_dir / EVENTS_FILE, runner.redact, runner.faults)
    runner.observer = events
    try:
        code = run_loop(_run(runner, args.tied))
    finally:  # an escaping error's traceback goes to run.log (our stderr); the follower reports it
        events.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
