"""95% confidence intervals from repeated rounds: of a mean, of a ratio of two means, and of a
geometric mean of ratios. The method, stated once here and in docs/measuring.md:

- A cell's figure over n rounds: the mean, +- t(0.975, n-1) * s / sqrt(n) (Student t on the round
  figures, s their sample standard deviation). One round: no interval.
- A ratio of two runs' means A/B: a log-ratio t interval by the delta method. log(mean_A / mean_B)
  has standard error sqrt(s_A^2 / (n_A mean_A^2) + s_B^2 / (n_B mean_B^2)), its degrees of freedom
  from Welch-Satterthwaite; the interval is exp(log ratio +- t * se), so it is never below 0 and is
  symmetric on the log scale (A/B and B/A give reciprocal intervals).
- A geometric mean of k cells' ratios: the mean of their log ratios, standard error
  sqrt(sum se_i^2) / k, degrees of freedom again by Welch-Satterthwaite. It states how precisely
  the rounds fix the geometric mean, not how much cells differ from each other.

The t quantile is computed here (no SciPy): Student's t tail from the regularized incomplete beta
function, inverted by bisection, for any degrees of freedom above 0 (Welch's are not whole).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

CONFIDENCE = 0.95
MEAN_METHOD = "Student t on the round figures: mean +- t(0.975, n-1) * s / sqrt(n)"
RATIO_METHOD = (
    "ratio of means, log-ratio t interval by the delta method (Welch-Satterthwaite degrees of freedom); "
    "geometric mean: mean of the cells' log ratios, their standard errors combined"
)


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def _t_tail(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom, t >= 0: I_x(df/2, 1/2) / 2, x = df / (df + t^2)."""
    x = df / (df + t * t)
    a, b = df / 2, 0.5
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a / 2
    return (1.0 - front * _betacf(b, a, 1 - x) / b) / 2


def t975(df: float) -> float:
    """The 97.5% quantile of Student's t with `df` (> 0, not necessarily whole) degrees of freedom."""
    if not df > 0:
        raise ValueError(f"t quantile: degrees of freedom {df} not above 0")
    if math.isinf(df):
        return _Z975
    low, high = 0.0, 1.0
    while _t_tail(high, df) > 0.025:
        high *= 2
    for _ in range(100):  # bisection: the tail falls as t grows
        mid = (low + high) / 2
        low, high = (mid, high) if _t_tail(mid, df) > 0.025 else (low, mid)
    return (low + high) / 2


_Z975 = 1.959963984540054  # df -> infinity


class Interval(BaseModel):
    """A figure's mean over `n` rounds and its 95% confidence interval (low, high)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    mean: float
    low: float
    high: float
    half_width: float
    n: int
    sd: float  # the rounds' sample standard deviation


NO_SPREAD = "the rounds agree exactly (no spread): degrees of freedom undefined, the interval is the point"


def mean_interval(values: Sequence[float]) -> Interval | None:
    """The mean of `values` and its 95% interval (Student t); None with fewer than 2 values."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return Interval(mean=mean, low=mean - half, high=mean + half, half_width=half, n=n, sd=sd)


@dataclass(frozen=True)
class LogSpread:
    """A log ratio's estimate, its squared standard error, and the degrees of freedom of that error."""

    log: float
    var: float
    df: float  # inf where no part has any spread (Welch's denominator is 0)

    def record(self) -> dict[str, Any]:
        """As JSON holds it: an infinite df is null, with the reason beside it."""
        if math.isfinite(self.df):
            return {"log": self.log, "var": self.var, "df": self.df}
        return {"log": self.log, "var": self.var, "df": None, "df_undefined": NO_SPREAD}


@dataclass(frozen=True)
class RatioInterval:
    """A ratio (or geometric mean of ratios) and its 95% interval."""

    value: float
    low: float
    high: float
    spread: LogSpread

    @property
    def spans_one(self) -> bool:
        """The interval holds 1.00: no measurable difference."""
        return self.low <= 1.0 <= self.high

    def text(self) -> str:
        return f"{self.value:.2f}x (95% CI {self.low:.2f}-{self.high:.2f})"

    def record(self) -> dict[str, Any]:
        """As JSON holds it (`compare --json`)."""
        return {"value": self.value, "low": self.low, "high": self.high, "spread": self.spread.record()}


def _from_log(spread: LogSpread) -> RatioInterval:
    if spread.var == 0:  # rounds that agree exactly: the interval is the point
        value = math.exp(spread.log)
        return RatioInterval(value, value, value, spread)
    half = t975(max(1.0, spread.df)) * math.sqrt(spread.var)
    return RatioInterval(math.exp(spread.log), math.exp(spread.log - half), math.exp(spread.log + half), spread)


def _welch_df(parts: Sequence[tuple[float, float]]) -> float:
    """Welch-Satterthwaite: the degrees of freedom of a sum of variances (each with its own df)."""
    total = sum(v for v, _ in parts)
    denominator = sum(v * v / df for v, df in parts)
    return total * total / denominator if denominator > 0 else math.inf


def ratio_interval(a: Sequence[float], b: Sequence[float]) -> RatioInterval | None:
    """mean(a) / mean(b) and its 95% interval (log-ratio, delta method); None when either side has
    fewer than 2 rounds or a mean that is not above 0."""
    ia, ib = mean_interval(a), mean_interval(b)
    if ia is None or ib is None or ia.mean <= 0 or ib.mean <= 0:
        return None
    va = (ia.sd / ia.mean) ** 2 / ia.n
    vb = (ib.sd / ib.mean) ** 2 / ib.n
    spread = LogSpread(math.log(ia.mean / ib.mean), va + vb, _welch_df([(va, ia.n - 1), (vb, ib.n - 1)]))
    return _from_log(spread)


def geomean_interval(ratios: Sequence[RatioInterval]) -> RatioInterval | None:
    """The geometric mean of `ratios` and its 95% interval; None for none."""
    k = len(ratios)
    if not k:
        return None
    log = sum(r.spread.log for r in ratios) / k
    var = sum(r.spread.var for r in ratios) / (k * k)
    df = _welch_df([(r.spread.var / (k * k), r.spread.df) for r in ratios])
    return _from_log(LogSpread(log, var, df))
