"""Following a run on the console to its end: its events as they come, its outcome, its exit code.

Shared by the headless run and by `attach` and `stop` (engine/headless/runs.py).
"""

from __future__ import annotations

import signal
import sys

from engine.events import RunFinished
from engine.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from engine.headless.console import ConsoleObserver, curve, summary_table
from engine.run.process import RunProcess

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_BY_STATUS = {"completed": EXIT_OK, "interrupted": EXIT_INTERRUPTED}


def say(text: str, stream=None) -> None:
    """Print, even when the terminal is gone (after SIGHUP a write fails: the run must not)."""
    try:
        print(text, file=stream or sys.stderr, flush=True)
    except OSError:
        pass


def follow_to_the_end(handle: RunProcess, *, stops_run: bool) -> RunFinished | None:
    """Follow a run process on the console. A stop signal (Ctrl-C, SIGTERM, SIGHUP: the terminal
    or SSH session went away) stops the run when `stops_run`, else only the following."""

    def on_signal(signum, frame) -> None:
        name = signal.Signals(signum).name
        if stops_run:
            say(f"\n{name}: stopping the load, saving partial results, stopping the server...")
            handle.stop()
            for s in STOP_SIGNALS:  # a second signal must not cut the clean-up short
                signal.signal(s, lambda *_: say("still stopping, please wait"))
        else:
            say(f"\n{name}: no longer following; the run goes on (pid {handle.pid})")
            handle.release()

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    return handle.follow(ConsoleObserver())


def print_outcome(final: RunFinished) -> int:
    if final.cells:
        say(summary_table(final.cells), sys.stdout)
        say(curve(final.cells), sys.stdout)
    if final.error:
        say(f"llmbench-tui: error: {final.error}")
    say(f"results: {final.results_dir}", sys.stdout)
    return final.exit_code if final.exit_code is not None else EXIT_BY_STATUS.get(final.status, EXIT_FAILED)
