"""The frontier of a sweep: over every cell of every variant, per ISL/OSL, the Pareto frontier of
output throughput per GPU against interactivity (output tok/s per user), and against mean E2E
latency (lower is better).

Per ISL/OSL because cells of different lengths are different work: a 128/128 cell's throughput
says nothing about an 8192/1024 one. Per GPU with the variant's own GPU count (tensor x pipeline x
data parallel), so a TP8 and a TP1 variant are compared per chip. A flagged cell (failed requests,
a starved client, ...) is left off, as compare leaves it out of its statistics, and listed with why;
flags of the codes named in `count_flagged` do not keep a cell off. Each point carries its
variant's server flags and, where the run was priced, the cost per million output tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.compare.cells import Key, order
from engine.compare.ratios import clean
from engine.report.cost import cost_per_million
from engine.report.model import CellResult
from engine.sweep.pareto import Curve, pareto
from engine.sweep.source import Source, Variant


@dataclass(frozen=True)
class Point:
    """One clean cell of one variant, as the frontier sees it."""

    variant: str
    seq: str
    load: str  # c=16, r=2 (the cell's load, as tables write it)
    concurrency: int | None  # None: a rate cell
    rate: float | None  # None: a concurrency cell
    input_len: int
    output_len: int
    gpus: int
    output_tok_s_per_gpu: float
    tok_s_per_user: float | None  # 1000 / mean TPOT
    mean_e2e_ms: float | None
    cost_per_mtok: float | None  # in the price's currency; None: unpriced
    gpu_hour_cost: float | None
    flags: dict[str, str]  # the variant's server flags
    cell: CellResult = field(compare=False, repr=False)

    def record(self) -> dict[str, Any]:
        """The point as sweep.json's `frontier` holds it."""
        return {
            "variant": self.variant,
            "seq": self.seq,
            "load": self.load,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "input_len": self.input_len,
            "output_len": self.output_len,
            "gpus": self.gpus,
            "output_tok_s_per_gpu": self.output_tok_s_per_gpu,
            "tok_s_per_user": self.tok_s_per_user,
            "mean_e2e_ms": self.mean_e2e_ms,
            "cost_per_mtok": self.cost_per_mtok,
            "flags": self.flags,
        }


def point(v: Variant, c: CellResult) -> Point:
    rate = c.request_rate
    return Point(
        variant=v.name,
        seq=c.seq,
        load=c.load_label,
        concurrency=None if rate is not None else c.max_concurrency,
        rate=rate,
        input_len=c.input_len,
        output_len=c.output_len,
        gpus=v.gpus,
        output_tok_s_per_gpu=c.output_throughput / v.gpus,
        tok_s_per_user=c.interactivity,
        mean_e2e_ms=c.mean_e2el_ms,
        cost_per_mtok=cost_per_million(c.gpu_hour_cost, v.gpus, c.output_throughput),
        gpu_hour_cost=c.gpu_hour_cost,
        flags=dict(v.flags),
        cell=c,
    )


@dataclass(frozen=True)
class Axis:
    """What the frontier trades throughput per GPU against."""

    name: str
    title: str
    x_label: str
    unit: str
    x_higher_better: bool
    x: Callable[[Point], float | None]


INTERACTIVITY = Axis(
    "interactivity",
    "Output throughput per GPU vs interactivity",
    "interactivity (output tok/s per user)",
    "tok/s/user",
    True,
    lambda p: p.tok_s_per_user,
)
LATENCY = Axis(
    "latency",
    "Output throughput per GPU vs mean E2E latency",
    "mean end-to-end latency (ms)",
    "ms",
    False,
    lambda p: p.mean_e2e_ms,
)
AXES = (INTERACTIVITY, LATENCY)


@dataclass
class AxisFrontier:
    """One ISL/OSL on one axis: the points with a value on it, and those on the frontier (x rising)."""

    axis: Axis
    seq: str
    points: list[Point]
    frontier: list[Point]

    def xy(self, p: Point) -> tuple[float, float]:
        return (self.axis.x(p) or 0.0, p.output_tok_s_per_gpu)

    def curve(self) -> Curve:
        return Curve.through([self.xy(p) for p in self.frontier])

    def at(self, x: float) -> Point | None:
        """The frontier point at or left of x: where the curve runs from there (None outside its range)."""
        if not self.frontier or not self.xy(self.frontier[0])[0] <= x <= self.xy(self.frontier[-1])[0]:
            return None
        return [p for p in self.frontier if self.xy(p)[0] <= x][-1]


@dataclass(frozen=True)
class LeftOff:
    """A cell kept off the frontier, and why."""

    variant: str
    load: str
    seq: str
    why: str


@dataclass
class Frontier:
    source: Source
    points: list[Point]
    left_off: list[LeftOff]
    axes: dict[Axis, dict[str, AxisFrontier]]  # axis -> ISL/OSL -> its frontier
    counted: list[LeftOff] = field(default_factory=list)  # flagged, but only with codes counted on request
    count_flagged: frozenset[str] = frozenset()

    def seqs(self) -> list[str]:
        return seq_sorted({p.seq for p in self.points})

    def on(self, axis: Axis, seq: str) -> AxisFrontier | None:
        return self.axes.get(axis, {}).get(seq)

    @property
    def gpu_hour_cost(self) -> float | None:
        """The price the source's cells were given, where they agree on one (None: unpriced or mixed)."""
        prices = {p.gpu_hour_cost for p in self.points}
        return prices.pop() if len(prices) == 1 else None


def seq_sorted(seqs: set[str]) -> list[str]:
    return sorted(seqs, key=lambda s: order(Key(s, "", 0.0)))


def axis_frontier(axis: Axis, seq: str, points: list[Point]) -> AxisFrontier:
    on_axis = [p for p in points if p.seq == seq and (axis.x(p) or 0) > 0 and p.output_tok_s_per_gpu > 0]
    best = pareto(on_axis, lambda p: (axis.x(p) or 0.0, p.output_tok_s_per_gpu), axis.x_higher_better)
    return AxisFrontier(axis, seq, on_axis, best)


def frontier(source: Source, count_flagged: frozenset[str] = frozenset()) -> Frontier:
    points, left, counted = [], [], []
    for v in source.variants:
        for c in v.run.cells if v.run else []:
            if not c.completed:
                continue
            if not clean(c, count_flagged):
                why = "; ".join(f"{f.code}: {f.reason}" for f in c.flags if f.code not in count_flagged)
                left.append(LeftOff(v.name, c.load_label, c.seq, why))
                continue
            if c.flags:
                counted.append(
                    LeftOff(v.name, c.load_label, c.seq, "; ".join(f"{f.code}: {f.reason}" for f in c.flags))
                )
            points.append(point(v, c))
    seqs = seq_sorted({p.seq for p in points})
    axes = {a: {s: axis_frontier(a, s, points) for s in seqs} for a in AXES}
    return Frontier(source, points, left, axes, counted, frozenset(count_flagged))
