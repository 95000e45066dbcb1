"""The sweep process: every variant of one sweep, in its own session (a lost terminal or SSH
connection does not reach it), its events appended to the sweep folder's events.jsonl.

Started by engine/sweep/process.py as `python -c ... SWEEP_DIR [--resume] [--tied]`: the resolved
profile arrives on stdin as one JSON line (its secrets never touch the disk), a resumed sweep's too
(its profile.toml has them masked; the front end gives them again). SIGINT and SIGTERM stop it as
they stop a run (the variant running keeps its partial results and stays pending; exit 130).
`--tied`: stdin is a lifeline from a foreground front end, as for a run (engine/run/child.py).
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
from engine.redact import Redactor, secret_values
from engine.run.eventlog import EVENTS_FILE, EventLog
from engine.run.session import client_env
from engine.server.launcher_base import profile_env
from engine.sweep.runner import SweepRunner
from engine.sweep.variants import expand

PROFILE_FILE = "profile.toml"  # the sweep's own profile, its [sweep] table included


async def _run(runner: SweepRunner, tied: bool) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def stop(why: str) -> None:
        runner.observer(Notice("warning", f"{why}: stopping the variant running, saving its partial results"))
        runner.stop(why)
        task.cancel()
        for s in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the clean-up short
            loop.add_signal_handler(s, lambda: None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, f"{signal.Signals(sig).name} received")
    if tied:

        def lifeline() -> None:
            if not os.read(0, 4096):
                loop.remove_reader(0)
                stop("the front end that started this sweep went away")

        loop.add_reader(0, lifeline)
    return await runner.run()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="llmbench-tui sweep process")
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--tied", action="store_true")
    args = p.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no terminal of ours to lose
    # Always from stdin: a resumed sweep's profile.toml has its secrets masked (engine/run/unmask.py).
    profile = ResolvedProfile.model_validate_json(sys.stdin.buffer.readline())
    redact = Redactor(secret_values(profile.recipe.args, {**profile_env(profile), **client_env()}))
    events = EventLog(args.sweep_dir / EVENTS_FILE, redact)
    runner = SweepRunner(args.sweep_dir, expand(profile, str(args.sweep_dir / PROFILE_FILE)), events)
    try:
        code = run_loop(_run(runner, args.tied))
    finally:  # an escaping error's traceback goes to run.log (our stderr); the follower reports it
        events.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
