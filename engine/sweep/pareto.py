"""Pareto frontiers and the curve through one, as pure functions of (x, y) points.

A point is dominated when another is at least as good on both axes and better on one; the
frontier is every point not dominated (two identical points are both kept: neither dominates the
other). y is always "higher is better" (throughput); x is higher-better (interactivity) or
lower-better (latency). The curve through a frontier is interpolated in log-log space: throughput
and interactivity span orders of magnitude, and a straight line between two measured points in
linear space would credit the frontier with points no configuration was seen to reach.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """a dominates b: no worse on both (larger is better on both) and better on one."""
    return a[0] >= b[0] and a[1] >= b[1] and (a[0] > b[0] or a[1] > b[1])


def pareto(items: Sequence[T], xy: Callable[[T], tuple[float, float]], x_higher_better: bool = True) -> list[T]:
    """The items on the frontier of `xy` (y higher is better; x as said), sorted by x rising; an
    item equal to another on both axes stays (ties are kept, in the order given)."""
    sign = 1.0 if x_higher_better else -1.0
    scored = [((sign * xy(i)[0], xy(i)[1]), i) for i in items]
    kept = [i for s, i in scored if not any(dominates(t, s) for t, _ in scored)]
    return sorted(kept, key=lambda i: xy(i)[0])


@dataclass(frozen=True)
class Curve:
    """A piecewise curve through points sorted by x (all x and y above 0), interpolated log-log;
    points of equal x collapse to the highest y (on a frontier they are equal: a tie)."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]

    @classmethod
    def through(cls, points: Sequence[tuple[float, float]]) -> Curve:
        best: dict[float, float] = {}
        for x, y in points:
            if x > 0 and y > 0:
                best[x] = max(y, best.get(x, y))
        xs = tuple(sorted(best))
        return cls(xs, tuple(best[x] for x in xs))

    @property
    def low(self) -> float:
        return self.xs[0]

    @property
    def high(self) -> float:
        return self.xs[-1]

    def __bool__(self) -> bool:
        return bool(self.xs)

    def at(self, x: float) -> float | None:
        """y at x; None outside the points' range (a frontier says nothing beyond what was measured)."""
        if not self.xs or x < self.xs[0] or x > self.xs[-1]:
            return None
        i = bisect.bisect_left(self.xs, x)
        if self.xs[i] == x:
            return self.ys[i]
        x0, x1, y0, y1 = self.xs[i - 1], self.xs[i], self.ys[i - 1], self.ys[i]
        t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
        return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))

    def segment(self, x: float) -> int | None:
        """The index of the point at or left of x on the curve (None outside its range)."""
        if not self.xs or x < self.xs[0] or x > self.xs[-1]:
            return None
        return max(0, bisect.bisect_right(self.xs, x) - 1)


def log_steps(low: float, high: float, n: int) -> list[float]:
    """n points from low to high, evenly spaced in log x (one point where low == high)."""
    if n < 2 or high <= low:
        return [low]
    ratio = math.log(high / low)
    inner = [low * math.exp(ratio * i / (n - 1)) for i in range(1, n - 1)]
    return [low, *inner, high]  # the ends exact: a rounding past `high` would fall off the curve


def crossing(f: Callable[[float], float], lo: float, hi: float, iterations: int = 40) -> float:
    """Where f (a log-ratio, continuous) changes sign between lo and hi, by bisection in log x."""
    flo = f(lo)
    for _ in range(iterations):
        mid = math.sqrt(lo * hi)
        fm = f(mid)
        if (fm > 0) == (flo > 0) and fm != 0:
            lo, flo = mid, fm
        else:
            hi = mid
    return math.sqrt(lo * hi)
