"""`llmbench-tui ls`, `attach` and `stop`: the runs under a results root, and following one.

A run is its own process (engine/run/process.py), so these work from any terminal: a new SSH
session after the old one dropped, or a second window beside the TUI.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.events import RunFinished
from engine.exits import EXIT_BAD_INPUT, EXIT_OK
from engine.headless.follow import follow_to_the_end, print_outcome, say
from engine.report.catalog import RunEntry, find_run, scan_runs
from engine.run.process import RunProcess
from engine.sweep.catalog import SweepEntry, find_sweep, scan_sweeps


def _root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", type=Path, default=Path("results"), help="the results root (default ./results)")


def ls_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="llmbench-tui ls", description="The runs under the results root, newest first.")
    _root_arg(p)
    args = p.parse_args(argv)
    runs, sweeps = scan_runs(args.results), scan_sweeps(args.results)
    if not runs and not sweeps:
        print(f"no runs under {args.results}")
        return EXIT_OK
    if sweeps:
        _print_sweeps(sweeps)
    if not runs:
        return EXIT_OK
    rows = [["folder", "profile", "status", "cells", "pid", "started"]]
    for r in runs:
        s = r.summary
        rows.append(
            [
                r.path.name,
                s.profile if s else "?",
                r.status if s else f"unreadable: {r.problem}",
                f"{r.cells_done}/{r.cells_planned}",
                str(s.pid) if s and s.pid and r.running else "-",
                (s.started_at or "?") if s else "?",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    why = [
        f"{r.path.name}: {r.status}: {r.summary.error.splitlines()[0]}" for r in runs if r.summary and r.summary.error
    ]
    if why:  # why a run failed or stopped (a full disk, a dead server, an interrupt)
        print("\n" + "\n".join(why))
    return EXIT_OK


def _print_sweeps(sweeps: list[SweepEntry]) -> None:
    """The sweeps first: each holds one run folder per variant (inside it, not listed here)."""
    rows = [["sweep", "profile", "status", "variants", "pid", "created"]]
    for e in sweeps:
        s = e.sweep
        status = e.status if s else f"unreadable: {e.problem}"
        pid = str(s.pid) if s and s.pid and e.running else "-"
        rows.append([e.path.name, s.profile if s else "?", status, e.progress, pid, s.created if s else "?"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    failed = [f"{e.path.name}: {v.name}: {v.reason}" for e in sweeps if e.sweep for v in e.sweep.failed()]
    print("\n".join(["", *failed, ""]) if failed else "")


DESCRIPTIONS = {
    "attach": "Follow a run live (the TUI, or the console with --no-ui); show a finished one. Leaving stops "
    "the following, not the run.",
    "stop": "Stop a running run: partial results saved, the server stopped.",
}


@dataclass(frozen=True)
class Target:
    """What attach and stop act on: a run, or a sweep (followed and stopped the same way)."""

    entry: RunEntry | SweepEntry
    handle: Callable[[], RunProcess]
    outcome: Callable[[RunFinished | None], int]


def _run_target(entry: RunEntry) -> Target:
    return Target(
        entry, lambda: RunProcess.attach(entry.path), lambda final: print_outcome(final) if final else EXIT_OK
    )


def _sweep_target(entry: SweepEntry) -> Target:
    from engine.headless.sweep import print_sweep_outcome
    from engine.sweep.process import SweepProcess

    return Target(entry, lambda: SweepProcess.attach(entry.path), lambda final: print_sweep_outcome(final, entry.path))


def pick_run(prog: str, argv: list[str]) -> tuple[argparse.Namespace, Target | None]:
    p = argparse.ArgumentParser(prog=f"llmbench-tui {prog}", description=DESCRIPTIONS[prog])
    p.add_argument(
        "run",
        nargs="?",
        help="results folder (a run's or a sweep's) or its name (default: the newest running run, else the newest)",
    )
    _root_arg(p)
    p.add_argument("--no-ui", action="store_true", help="follow on the console (the TUI otherwise)")
    args = p.parse_args(argv)
    if (sweep := find_sweep(args.results, args.run)) is not None:
        if sweep.sweep is None:
            say(f"llmbench-tui: error: {sweep.path}: {sweep.problem}")
            return args, None
        return args, _sweep_target(sweep)
    entry = find_run(args.results, args.run)
    if entry is None:
        say(f"llmbench-tui: error: {args.run or 'no run'} not found under {args.results} (see llmbench-tui ls)")
    elif entry.summary is None:
        say(f"llmbench-tui: error: {entry.path}: {entry.problem}")
        entry = None
    return args, _run_target(entry) if entry else None


def attach_main(argv: list[str]) -> int:
    """Follow a run live on the console (Ctrl-C leaves it running); a finished one is shown."""
    _, target = pick_run("attach", argv)
    if target is None:
        return EXIT_BAD_INPUT
    handle = target.handle()
    if target.entry.running:
        say(f"attached to {target.entry.path.name} (pid {handle.pid}); Ctrl-C leaves it running")
    return target.outcome(follow_to_the_end(handle, stops_run=False))


def stop_main(argv: list[str]) -> int:
    """Stop a running run as Ctrl-C would (partial results saved, server stopped) and wait for it."""
    _, target = pick_run("stop", argv)
    if target is None:
        return EXIT_BAD_INPUT
    if not target.entry.running:
        say(f"{target.entry.path.name} is not running ({target.entry.status})")
        return EXIT_OK
    handle = target.handle()
    handle.stop()
    return target.outcome(follow_to_the_end(handle, stops_run=False))


COMMANDS = {"ls": ls_main, "attach": attach_main, "stop": stop_main}  # by subcommand
