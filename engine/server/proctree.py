"""Process trees from /proc (Linux): who is whose child, and every descendant of a process.

Used by the server's keeper and the in-process engine's watchdog, both of which must find
every process a server left, also those that left its process group."""

from __future__ import annotations

import os


def children_map(zombies: bool = False) -> dict[int, list[int]]:
    """Parent pid -> its children's pids, over every process now (zombies left out unless asked)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone since the listing
        # The command name may hold spaces and parentheses: the fields start after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if zombies or fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(root: int) -> list[int]:
    """Every living descendant of `root`, parents before their children."""
    children, out, todo = children_map(), [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
