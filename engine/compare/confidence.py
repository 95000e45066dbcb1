"""Ratios with confidence: a compared cell's ratios with their 95% intervals from both runs'
rounds, the geometric mean's interval, and what an interval says about who leads.

A ratio's interval (engine.stats.intervals.ratio_interval) needs two or more rounds on both sides;
with one round in either run none can be given, and the comparison says so. An interval that holds
1.00 is "no measurable difference": neither run leads there (the tie band), whatever the point
ratio; without an interval the point ratio is all there is, and the lead is read from it.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.report.model import CellResult
from engine.report.registry import Metric
from engine.stats.intervals import RatioInterval, geomean_interval, ratio_interval

NO_DIFFERENCE = "no measurable difference"


def round_values(cell: CellResult, m: Metric) -> list[float]:
    """A figure's value in each of a cell's rounds ([] for a cell of one round)."""
    return [v for r in cell.rounds or [] if (v := m.value(r)) is not None]


def cell_interval(a: CellResult, b: CellResult, m: Metric) -> RatioInterval | None:
    """A's figure / B's over their rounds, with its 95% interval (None: one round in either)."""
    return ratio_interval(round_values(a, m), round_values(b, m))


def combined(intervals: Sequence[RatioInterval | None]) -> RatioInterval | None:
    """The geometric mean's interval over cells, when every one of them has an interval."""
    if not intervals or any(i is None for i in intervals):
        return None
    return geomean_interval(intervals)


def side(value: float, interval: RatioInterval | None) -> int:
    """Who a ratio says leads: 1 for A, -1 for B, 0 for neither (an interval holding 1.00, or exactly 1)."""
    if interval is not None:
        return 1 if interval.low > 1 else -1 if interval.high < 1 else 0
    return 1 if value > 1 else -1 if value < 1 else 0


def interval_text(interval: RatioInterval | None) -> str:
    """' (0.97-1.09)' after a ratio in a table ('' without an interval)."""
    return "" if interval is None else f" ({interval.low:.2f}-{interval.high:.2f})"


def verdict(interval: RatioInterval | None, name_a: str, name_b: str) -> str:
    """What a cell's interval says: which run is ahead, or no measurable difference."""
    if interval is None:
        return "no interval (one round)"
    lead = side(interval.value, interval)
    return NO_DIFFERENCE if lead == 0 else f"{name_a if lead > 0 else name_b} ahead"


def one_round(runs: Sequence[tuple[str, list[CellResult]]]) -> list[str]:
    """The names of the runs measured in one round (no interval can be given against them)."""
    return [name for name, cells in runs if not any(c.rounds for c in cells)]
