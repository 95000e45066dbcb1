"""Where a cell sits, for matching two runs' cells: its workload and the load on it, in words and
in order. Read by the sources (what a run measured) and the ratios (which cells pair up)."""

from __future__ import annotations

from typing import NamedTuple

from engine.report.model import CellResult
from engine.shapes.registry import by_axis


class Key(NamedTuple):
    """Where a cell sits, for matching two runs' cells: the workload (ISL/OSL, or a dataset's label)
    and the load on it (its shape's axis, and its place there: engine/shapes)."""

    seq: str  # "128/128", "sharegpt", "random 100:400/50:200", "multiturn4 256/64", ...
    axis: str  # the result's shape: concurrency, rate, ...
    level: float  # the concurrency or the rate (req/s; multi-turn: conversations/s), as the shape places it


def key(cell: CellResult) -> Key:
    shape = cell.load_shape
    return Key(cell.seq, shape.axis, shape.plan_level(cell))


def pace(cell: CellResult) -> str:
    """How an open-loop cell's requests were sent beyond its rate: the arrival process and the cap on
    requests in flight ('' for a closed loop). Two cells at one rate but another pace are not one load."""
    loop = cell.open_loop
    if loop is None:
        return ""
    shape = f"gamma, burstiness {loop.burstiness:g}" if loop.arrival == "gamma" else loop.arrival
    shape = cell.load_shape.result_pace(cell, shape)
    return f"{shape}, " + (f"at most {loop.max_in_flight} in flight" if loop.max_in_flight else "no cap")


def level_text(k: Key) -> str:
    return by_axis(k.axis).level_text(k.level)


def describe(k: Key) -> str:
    return by_axis(k.axis).describe(k.seq, k.level)


def order(k: Key) -> tuple:
    """Numeric ISL/OSL first (128/128 before 1024/1024), labels after, then the load rising."""
    isl, _, osl = k.seq.partition("/")
    numeric = (0, int(isl), int(osl), "") if isl.isdigit() and osl.isdigit() else (1, 0, 0, k.seq)
    return (*numeric, k.axis, k.level)
