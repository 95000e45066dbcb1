"""How long the front ends take to start: `llmbench-tui --help`, and the TUI's first paint.

--help: the wall and CPU time of the whole command, several times (min and median). First paint: the TUI
started in a detached tmux pane of 120x40, whose text is read every 10 ms until the setup screen
shows MARK; the time from the command's start to then. Run on an idle host for figures to quote.

    python benchmarks/startup.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = str(Path(sys.executable).parent / "llmbench-tui")
MARK = "Run profile"  # on the setup screen, drawn with its first frame


def help_s() -> tuple[float, float]:
    """The wall time and the CPU time (user + system: what a busy host does not inflate) of --help."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run([CLI, "--help"], stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def first_paint_s(timeout_s: float = 30.0) -> float:
    session = f"llmbench-paint-{time.monotonic_ns()}"
    results = tempfile.mkdtemp(prefix="llmbench-paint-")
    began = time.perf_counter()
    tmux = ["tmux", "-L", session]  # a server of our own: never another user's sessions
    # The pane gets this environment (PYTHONPATH: the code under test), not the tmux server's.
    env = ["env", f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}"]
    size = ["-x", "120", "-y", "40"]
    subprocess.run([*tmux, "new-session", "-d", "-s", session, *size, *env, CLI, "--results", results])
    try:
        while time.perf_counter() - began < timeout_s:
            pane = subprocess.run([*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True)
            if MARK in pane.stdout:
                return time.perf_counter() - began
            time.sleep(0.01)
        raise TimeoutError(f"no {MARK!r} on the TUI's screen within {timeout_s:.0f} s")
    finally:
        subprocess.run([*tmux, "kill-server"], stderr=subprocess.DEVNULL)
        shutil.rmtree(results, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    helps, cpus = zip(*(help_s() for _ in range(args.rounds)))
    paints = [first_paint_s() for _ in range(args.rounds)] if shutil.which("tmux") else []
    out = {
        "help_s": {"min": round(min(helps), 3), "median": round(statistics.median(helps), 3)},
        "help_cpu_s": {"min": round(min(cpus), 3), "median": round(statistics.median(cpus), 3)},
        "first_paint_s": {"min": round(min(paints), 3), "median": round(statistics.median(paints), 3)}
        if paints
        else "tmux not installed",
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
