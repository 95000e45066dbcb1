"""A ratio of two clients' figures measured in paired rounds, with its 95% confidence interval.

Each round measures both sides back to back on the same server, so the round's ratio cancels what
drifts between rounds (the server's mode, the host's load). The figure is the geometric mean of the
per-round ratios; its interval is Student's t on their logarithms (a ratio and its inverse then get
mirrored intervals): exp(mean(ln r) +- t(0.975, n - 1) * sd(ln r) / sqrt(n)), sd with n - 1.
One round gives no interval.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

METHOD = "geometric mean of the per-round ratios, 95% interval from Student's t on their logarithms"

# Student's t at 0.975 by degrees of freedom (1-30); beyond, the normal's 1.96 is within 2%.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
_T975 += (2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086)
_T975 += (2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """The 97.5th percentile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError(f"Student's t needs at least one degree of freedom, got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


@dataclass(frozen=True)
class RatioInterval:
    ratios: tuple[float, ...]  # one per round, ours / theirs
    mean: float  # their geometric mean
    low: float | None = None  # None: one round, no interval
    high: float | None = None

    @property
    def spans_one(self) -> bool | None:
        """Whether the interval holds 1.00 (no measurable difference); None without an interval."""
        return None if self.low is None or self.high is None else self.low <= 1.0 <= self.high

    def text(self) -> str:
        """'1.03 (0.95-1.12)', or '1.03 (1 round: no interval)'."""
        if self.low is None or self.high is None:
            return f"{self.mean:.2f} ({len(self.ratios)} round: no interval)"
        return f"{self.mean:.2f} ({self.low:.2f}-{self.high:.2f})"


def ratio_interval(ours: list[float], theirs: list[float]) -> RatioInterval:
    """The per-round ratios ours[i] / theirs[i], their geometric mean and its 95% interval."""
    if len(ours) != len(theirs) or not ours:
        raise ValueError(f"paired rounds needed: {len(ours)} of ours against {len(theirs)} of theirs")
    if any(x <= 0 for x in ours + theirs):
        raise ValueError("a ratio's interval needs positive figures on both sides")
    ratios = tuple(a / b for a, b in zip(ours, theirs))
    logs = [math.log(r) for r in ratios]
    center = statistics.fmean(logs)
    if len(logs) < 2:
        return RatioInterval(ratios, math.exp(center))
    half = t975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return RatioInterval(ratios, math.exp(center), math.exp(center - half), math.exp(center + half))
