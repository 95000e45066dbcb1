"""The run's side of a launched server's keeper (engine/server/supervisor.py): start it, tell at
once whether it or its server has ended, and stop the server's tree.

The keeper is the run's own child, so its end is known without asking the server anything: the
run asks every half second under load (engine/run/watch.py). Its exit status is read without
reaping it (waitid with WNOWAIT): while the keeper is an unreaped zombie its pid cannot be reused,
and the server's processes, which kept the keeper's session id when they were re-parented, can
still be found by that id. So a keeper killed outright (SIGKILL, the OOM killer) leaves the run
a way to stop what it kept: SIGTERM to each of them, a grace period, SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.server.isolation import Isolation
from engine.server.proctree import children_map, session_members, state_of
from engine.server.watchdog import start_time, stop_all
from engine.spawn import python_argv

# How /proc names a process's state (proctree.state_of), for a stalled server's diagnosis.
PROC_STATES = {
    "R": "running (on a CPU or ready to be)",
    "S": "sleeping (waiting on an event)",
    "D": "in an uninterruptible wait (a device or the disk)",
    "T": "stopped",
    "Z": "a zombie",
}


def _die_with_parent() -> None:
    """In the keeper, before exec: get SIGTERM when the launching thread dies (Linux); a second
    guard beside its lifeline pipe. The launching thread must live as long as the run does."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_keeper(
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    grace_s: float,
    iso: Isolation,
    container: str | None,
    scratch_dir: str | None = None,
) -> subprocess.Popen:
    """Start the keeper, which starts `command` (the server) and stops its whole tree when told to,
    or when this process ends in any way (its stdin, our pipe, closes), then removes `scratch_dir`.
    Raises OSError."""
    argv = python_argv(
        "engine.server.supervisor",
        *["--log", str(log_path), "--grace", str(grace_s)],
        *["--isolation", json.dumps(iso.to_dict())],
        *(["--container", container] if container else []),
        *(["--scratch", scratch_dir] if scratch_dir else []),
        "--",
        *command,
    )
    return subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=open(log_path, "ab"),
        start_new_session=True,  # a Ctrl-C in our terminal is ours to handle, not the server's
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )


def keeper_exit(proc: subprocess.Popen) -> int | None:
    """The keeper's exit status as Popen gives it (negative: the signal that killed it), None while
    it runs; read without reaping it."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped elsewhere: Popen knows how it ended
        return proc.poll()
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def server_of(proc: subprocess.Popen) -> tuple[int, int] | None:
    """The keeper's child, the server's first process: (pid, start time), None if there is none."""
    child = children_map().get(proc.pid, [])
    started = start_time(child[0]) if child else None
    return (child[0], started) if started is not None else None


KEEPER_EXIT_S = 1.0  # how long a killed keeper's exit may trail its server's (bounds the wait in gone)


def gone(proc: subprocess.Popen, server: tuple[int, int] | None) -> str | None:
    """Why the server is gone, None while the keeper and the server's first process both run."""
    if server is not None and start_time(server[0]) != server[1]:
        # A killed keeper takes its server with it (PR_SET_PDEATHSIG) a moment before its own exit
        # can be read: wait that moment, so that the cause is named rather than its effect.
        deadline = time.monotonic() + KEEPER_EXIT_S
        while keeper_exit(proc) is None and time.monotonic() < deadline:
            time.sleep(0.01)
    code = keeper_exit(proc)
    if code is not None and code < 0:
        return f"the server's keeper process (pid {proc.pid}) was killed by {signal.Signals(-code).name}"
    if code is not None:  # the keeper ends with its server's exit code, once it has stopped the tree
        return f"the server exited (code {code}) and its keeper (pid {proc.pid}) stopped its processes"
    if server is not None and start_time(server[0]) != server[1]:
        return f"the server process (pid {server[0]}) ended; its keeper (pid {proc.pid}) stops the rest"
    return None


def process_note(server: tuple[int, int] | None) -> str:
    """The server's first process now, as /proc shows it."""
    if server is None:
        return "its process: none noted"
    pid, started = server
    state = state_of(pid) if start_time(pid) == started else None
    return f"its process (pid {pid}): {PROC_STATES.get(state, state) if state else 'gone'}"


def stop_keeper(proc: subprocess.Popen, grace_s: float, container: str | None) -> None:
    """Close the keeper's lifeline and wait while it stops the tree (SIGTERM, grace, SIGKILL); when
    the keeper was killed (or hangs), stop what is left of the tree here."""
    proc.stdin.close()  # the lifeline (a keeper already dead reads nothing)
    deadline = time.monotonic() + grace_s + 15
    while (code := keeper_exit(proc)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if code is None:  # a keeper that hangs: killed, and its tree stopped as below
        proc.kill()
        code = -signal.SIGKILL
    if code < 0:  # found before the keeper is reaped: its pid, so its session id, is still ours
        stop_all(session_members(proc.pid), grace_s)
        if container:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    proc.wait()
