"""Process trees from /proc (Linux): who is whose child, and every descendant of a process.

Used by the server's keeper and the in-process engine's watchdog, both of which must find
every process a server left, also those that left its process group."""

from __future__ import annotations

import os
from collections.abc import Iterator


def _stats() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, the fields of /proc/PID/stat from its state on) for every process now."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone since the listing
        # The command name may hold spaces and parentheses: the fields start after the last ')'.
        yield int(entry), stat[stat.rfind(b")") + 2 :].split()


def children_map(zombies: bool = False) -> dict[int, list[int]]:
    """Parent pid -> its children's pids, over every process now (zombies left out unless asked)."""
    children: dict[int, list[int]] = {}
    for pid, fields in _stats():
        if zombies or fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(pid)
    return children


def descendants(root: int) -> list[int]:
    """Every living descendant of `root`, parents before their children."""
    children, out, todo = children_map(), [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def session_members(sid: int) -> dict[int, int]:
    """Every living process of session `sid` (zombies left out), with its start time (clock ticks
    since boot, so that a pid reused later is never taken for it). A launched server's processes
    keep its keeper's session id even once re-parented, unless one starts a session of its own."""
    return {pid: int(fields[19]) for pid, fields in _stats() if fields[0] != b"Z" and int(fields[3]) == sid}


def state_of(pid: int) -> str | None:
    """The process's state as /proc shows it (R running, S sleeping, D uninterruptible wait, Z zombie...),
    None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()[0].decode()
