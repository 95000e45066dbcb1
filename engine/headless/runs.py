"""`llmbench-tui ls`, `attach` and `stop`: the runs under a results root, and following one.

A run is its own process (engine/run/process.py), so these work from any terminal: a new SSH
session after the old one dropped, or a second window beside the TUI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.exits import EXIT_BAD_INPUT, EXIT_OK
from engine.headless.follow import follow_to_the_end, print_outcome, say
from engine.report.catalog import RunEntry, find_run, scan_runs
from engine.run.process import RunProcess


def _root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", type=Path, default=Path("results"), help="the results root (default ./results)")


def ls_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="llmbench-tui ls", description="The runs under the results root, newest first.")
    _root_arg(p)
    args = p.parse_args(argv)
    runs = scan_runs(args.results)
    if not runs:
        print(f"no runs under {args.results}")
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


DESCRIPTIONS = {
    "attach": "Follow a run live (the TUI, or the console with --no-ui); show a finished one. Leaving stops "
    "the following, not the run.",
    "stop": "Stop a running run: partial results saved, the server stopped.",
}


def pick_run(prog: str, argv: list[str]) -> tuple[argparse.Namespace, RunEntry | None]:
    p = argparse.ArgumentParser(prog=f"llmbench-tui {prog}", description=DESCRIPTIONS[prog])
    p.add_argument(
        "run", nargs="?", help="results folder or its name (default: the newest running run, else the newest)"
    )
    _root_arg(p)
    p.add_argument("--no-ui", action="store_true", help="follow on the console (the TUI otherwise)")
    args = p.parse_args(argv)
    entry = find_run(args.results, args.run)
    if entry is None:
        say(f"llmbench-tui: error: {args.run or 'no run'} not found under {args.results} (see llmbench-tui ls)")
    elif entry.summary is None:
        say(f"llmbench-tui: error: {entry.path}: {entry.problem}")
        entry = None
    return args, entry


def attach_main(argv: list[str]) -> int:
    """Follow a run live on the console (Ctrl-C leaves it running); a finished one is shown."""
    _, entry = pick_run("attach", argv)
    if entry is None:
        return EXIT_BAD_INPUT
    if entry.running:
        say(f"attached to {entry.path.name} (pid {entry.summary.pid}); Ctrl-C leaves it running")
    final = follow_to_the_end(RunProcess.attach(entry.path), stops_run=False)
    if final is None:
        return EXIT_OK  # no longer following
    return print_outcome(final)


def stop_main(argv: list[str]) -> int:
    """Stop a running run as Ctrl-C would (partial results saved, server stopped) and wait for it."""
    _, entry = pick_run("stop", argv)
    if entry is None:
        return EXIT_BAD_INPUT
    if not entry.running:
        say(f"{entry.path.name} is not running ({entry.status})")
        return EXIT_OK
    handle = RunProcess.attach(entry.path)
    handle.stop()
    final = follow_to_the_end(handle, stops_run=False)
    return print_outcome(final) if final else EXIT_OK


COMMANDS = {"ls": ls_main, "attach": attach_main, "stop": stop_main}  # by subcommand
