"""Frontier against frontier: two sweeps (or a sweep and a run, a one-variant frontier) compared at
equal interactivity and at equal mean E2E latency, as the continuous MI355X/B200 benchmarks compare
chips each running its own best configuration.

Per ISL/OSL both measured, each frontier is a curve (engine.sweep.pareto.Curve, log-log); over the
range of x both cover, the ratio A / B of output throughput per GPU is read at points evenly spaced
in log x. The geometric mean is over those points (so each factor of x weighs the same), "up to" is
the largest ratio, the lead changes where the ratio crosses 1 (found by bisection), and the
variants forming each frontier over that range are named. With both sides priced, the cost per
million output tokens is compared at the same points (A / B: below 1 means A is cheaper).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine.sweep.compute import AXES, Axis, AxisFrontier, Frontier, seq_sorted
from engine.sweep.pareto import crossing, log_steps

STEPS = 33  # points across the common range: enough for the geomean and the crossings' brackets
EVEN = 1e-9  # |log ratio| under this is a tie: no one leads


@dataclass(frozen=True)
class Sample:
    at: float  # x: tok/s/user, or ms of mean E2E
    a: float  # output tok/s per GPU on A's frontier there
    b: float
    cost_ratio: float | None  # cost per million output tokens, A / B (None: a side unpriced)

    @property
    def ratio(self) -> float:
        return self.a / self.b


@dataclass(frozen=True)
class Stretch:
    """A run of one variant along a frontier: where (x from, x to) that variant forms it."""

    variant: str
    low: float
    high: float


@dataclass
class AxisComparison:
    """Two frontiers of one ISL/OSL on one axis."""

    axis: Axis
    seq: str
    range_a: tuple[float, float] | None  # x each frontier covers (None: no point)
    range_b: tuple[float, float] | None
    samples: list[Sample] = field(default_factory=list)  # empty: the ranges do not overlap
    leads: list[tuple[float, str]] = field(default_factory=list)  # (x, who leads from there on, x rising)
    forming_a: list[Stretch] = field(default_factory=list)
    forming_b: list[Stretch] = field(default_factory=list)

    @property
    def low(self) -> float:
        return self.samples[0].at

    @property
    def high(self) -> float:
        return self.samples[-1].at

    @property
    def geomean(self) -> float | None:
        return _geomean([s.ratio for s in self.samples])

    @property
    def cost_geomean(self) -> float | None:
        costs = [s.cost_ratio for s in self.samples]
        return _geomean(costs) if costs and None not in costs else None

    @property
    def highest(self) -> Sample | None:
        return max(self.samples, key=lambda s: s.ratio, default=None)

    @property
    def lowest(self) -> Sample | None:
        return min(self.samples, key=lambda s: s.ratio, default=None)


@dataclass
class FrontierComparison:
    a: Frontier
    b: Frontier
    axes: list[AxisComparison]  # per axis, per ISL/OSL both measured
    only_a: list[str]  # ISL/OSL measured by one side only
    only_b: list[str]

    @property
    def name_a(self) -> str:
        return self.a.source.name

    @property
    def name_b(self) -> str:
        return self.b.source.name

    def on(self, axis: Axis) -> list[AxisComparison]:
        return [c for c in self.axes if c.axis == axis]


def _geomean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and v > 0]
    return math.exp(sum(map(math.log, kept)) / len(kept)) if kept else None


def _range(f: AxisFrontier | None) -> tuple[float, float] | None:
    curve = f.curve() if f else None
    return (curve.low, curve.high) if curve else None


def stretches(f: AxisFrontier, low: float, high: float) -> list[Stretch]:
    """The variants forming the frontier between low and high, in x order: a segment of the curve
    belongs to the point at its left end, so a variant forms it from its first point (or `low`) to
    the next variant's first point (or `high`)."""
    first = f.at(low)
    inside = [p for p in f.frontier if low < f.xy(p)[0] <= high]
    out: list[Stretch] = []
    for p in ([first] if first else []) + inside:
        x = max(low, f.xy(p)[0])
        if out and out[-1].variant == p.variant:
            continue
        if out:
            out[-1] = Stretch(out[-1].variant, out[-1].low, x)
        out.append(Stretch(p.variant, x, high))
    return out


def _cost_ratio(fa: Frontier, fb: Frontier, ya: float, yb: float) -> float | None:
    pa, pb = fa.gpu_hour_cost, fb.gpu_hour_cost
    if pa is None or pb is None:
        return None
    return (pa / ya) / (pb / yb)  # cost per token is the GPU-hour price over tokens per GPU-hour


def compare_axis(axis: Axis, seq: str, fa: Frontier, fb: Frontier) -> AxisComparison:
    ea, eb = fa.on(axis, seq), fb.on(axis, seq)
    out = AxisComparison(axis, seq, _range(ea), _range(eb))
    if ea is None or eb is None or out.range_a is None or out.range_b is None:
        return out
    low, high = max(out.range_a[0], out.range_b[0]), min(out.range_a[1], out.range_b[1])
    if low > high:
        return out
    ca, cb = ea.curve(), eb.curve()
    for x in log_steps(low, high, STEPS):
        ya, yb = ca.at(x), cb.at(x)
        if ya and yb:
            out.samples.append(Sample(x, ya, yb, _cost_ratio(fa, fb, ya, yb)))
    out.leads = leads(out.samples, lambda x: math.log(ca.at(x) / cb.at(x)), fa.source.name, fb.source.name)
    out.forming_a, out.forming_b = stretches(ea, low, high), stretches(eb, low, high)
    return out


def leads(samples: list[Sample], log_ratio, name_a: str, name_b: str) -> list[tuple[float, str]]:
    """Who leads from where, x rising: the first sample's leader at its x, then each change of lead at
    the x where the ratio crosses 1 (a stretch of exact ties leads to no one)."""
    out: list[tuple[float, str]] = []
    prev: Sample | None = None
    for s in samples:
        v = math.log(s.ratio)
        who = name_a if v > EVEN else name_b if v < -EVEN else None
        if who is not None and (not out or out[-1][1] != who):
            at = s.at if prev is None or not out else crossing(log_ratio, prev.at, s.at)
            out.append((at, who))
        prev = s
    return out


def compare_frontiers(a: Frontier, b: Frontier) -> FrontierComparison:
    seqs_a, seqs_b = set(a.seqs()), set(b.seqs())
    common = seq_sorted(seqs_a & seqs_b)
    axes = [compare_axis(axis, seq, a, b) for axis in AXES for seq in common]
    return FrontierComparison(a, b, axes, seq_sorted(seqs_a - seqs_b), seq_sorted(seqs_b - seqs_a))
