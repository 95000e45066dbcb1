"""Where a cell sits, for matching two runs' cells: its workload and the load on it, in words and
in order. Read by the sources (what a run measured) and the ratios (which cells pair up)."""

from __future__ import annotations

from typing import NamedTuple

from engine.report.model import CellResult


class Key(NamedTuple):
    """Where a cell sits, for matching two runs' cells: the workload (ISL/OSL, or a dataset's or
    trace's label) and the load on it (a concurrency, a request rate, or a trace's own pace)."""

    seq: str  # "128/128", "sharegpt", "random 100:400/50:200", "multiturn4 256/64", "trace x2"
    axis: str  # concurrency, rate, ramp, trace
    level: float  # the concurrency or the rate (req/s; multi-turn: conversations/s; a ramp's highest); a trace's cap


def key(cell: CellResult) -> Key:
    loop = cell.open_loop
    if cell.ramp is not None:
        return Key(cell.seq, "ramp", cell.load_level)
    if loop is not None and loop.arrival.startswith("trace"):
        return Key(cell.seq, "trace", float(loop.max_in_flight or 0))
    if loop is not None:
        return Key(cell.seq, "rate", float(loop.request_rate))
    return Key(cell.seq, "concurrency", float(cell.max_concurrency))


def pace(cell: CellResult) -> str:
    """How an open-loop cell's requests were sent beyond its rate: the arrival process and the cap on
    requests in flight ('' for a closed loop). Two cells at one rate but another pace are not one load."""
    loop = cell.open_loop
    if loop is None:
        return ""
    shape = f"gamma, burstiness {loop.burstiness:g}" if loop.arrival == "gamma" else loop.arrival
    if cell.ramp is not None:
        shape = f"{cell.ramp.strategy} ramp from {cell.ramp.start_rps:g} req/s, {shape}"
    return f"{shape}, " + (f"at most {loop.max_in_flight} in flight" if loop.max_in_flight else "no cap")


def level_text(k: Key) -> str:
    if k.axis == "rate":
        return f"rate {k.level:g} req/s"
    if k.axis == "ramp":
        return f"ramp up to {k.level:g} req/s"
    if k.axis == "trace":
        return f"at most {k.level:g} in flight" if k.level else "its own pace"
    return f"concurrency {k.level:g}"


def describe(k: Key) -> str:
    return f"{k.seq}, {level_text(k)}" if k.axis == "trace" else f"{level_text(k)}, {k.seq}"


def order(k: Key) -> tuple:
    """Numeric ISL/OSL first (128/128 before 1024/1024), labels after, then the load rising."""
    isl, _, osl = k.seq.partition("/")
    numeric = (0, int(isl), int(osl), "") if isl.isdigit() and osl.isdigit() else (1, 0, 0, k.seq)
    return (*numeric, k.axis, k.level)
