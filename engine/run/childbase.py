"""What the run process (engine/run/child.py) and the sweep process (engine/sweep/child.py) share:
their command line `FOLDER [--resume] [--tied]`, the resolved profile on stdin as one JSON line
(its secrets never touch the disk: a resume's too, given again, as profile.toml has them masked;
engine/run/unmask.py), a lost
terminal ignored, and how they are asked to stop: SIGINT or SIGTERM, or with `--tied` their stdin
closing (the foreground front end that started them died, even by SIGKILL). Each says what
stopping does (its notice, what it tells its runner)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from engine.loop import run as run_loop
from engine.profiles import ResolvedProfile
from engine.run.eventlog import EventLog

PROFILE_FILE = "profile.toml"  # the folder's own profile (a sweep's has its [sweep] table)


@dataclass(frozen=True)
class ChildStart:
    """What a run or sweep process was started with."""

    folder: Path
    resume: bool
    tied: bool
    profile: ResolvedProfile


def child_start(prog: str, folder: str, argv: list[str] | None) -> ChildStart:
    """Parse the command line (`folder`: how usage names the folder), ignore SIGHUP (no terminal
    of ours to lose), and read the profile from stdin."""
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("folder", type=Path, metavar=folder)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--tied", action="store_true")
    args = p.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    profile = ResolvedProfile.model_validate_json(sys.stdin.buffer.readline())
    return ChildStart(args.folder, args.resume, args.tied, profile)


def child_exit(work: Coroutine[Any, Any, int], events: EventLog) -> NoReturn:
    """Run `work` on our event loop and exit with its code, the event log closed either way."""
    try:
        code = run_loop(work)
    finally:  # an escaping error's traceback goes to run.log (our stderr); the follower reports it
        events.close()
    sys.exit(code)


def stop_on_request(on_stop: Callable[[str], None], tied: bool, what: str) -> None:
    """Call `on_stop(why)` once the first stop request comes, then cancel the current task (its
    clean-up saves the partial results). A second signal is then ignored: it must not cut the
    clean-up short. `what`: the run or sweep, as the lifeline's reason names it."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def stop(why: str) -> None:
        on_stop(why)
        task.cancel()
        for s in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(s, lambda: None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, f"{signal.Signals(sig).name} received")
    if tied:

        def lifeline() -> None:
            if not os.read(0, 4096):
                loop.remove_reader(0)
                stop(f"the front end that started this {what} went away")

        loop.add_reader(0, lifeline)
