"""Runs compared cell by cell, the way the seed study compares MI355X and B200.

A ratio is A relative to B ("A vs B: 1.4x": A's figure is 1.4 times B's). For throughput above 1
means A leads; for a latency above 1 means A is slower. Only cells both runs measured cleanly
enter a geometric mean: a cell in one run only, or flagged in either (failed requests, a starved
client, ...), is listed with the reason and left out, never silently. Flags of codes the user names
(`count_flagged`, e.g. client_limit on a host where that flag is noise for the figure compared) do
not keep a cell out; such cells are listed as counted.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from engine.compare.cells import Key, describe, key, level_text, order, pace
from engine.compare.sources import Run
from engine.report.model import CellResult
from engine.report.registry import COMPARED, metric

NOT_SAME_LOAD = "not the same load"  # an excluded cell's reason when the two sides' arrivals differ
LEAD = "output_throughput"  # the figure the summary, the lead and the crossovers speak of


@dataclass
class CellRatio:
    key: Key
    a: CellResult
    b: CellResult
    ratios: dict[str, float | None]  # compared metric's key -> A / B (None where either side has no value)


@dataclass
class Stats:
    """Geometric mean, min and max of one figure's ratios over a set of cells."""

    n: int
    geomean: float | None
    low: float | None
    low_at: Key | None
    high: float | None
    high_at: Key | None


@dataclass
class Comparison:
    a: Run
    b: Run
    cells: list[CellRatio]  # clean cells present in both: they enter the statistics
    excluded: list[tuple[Key, str]]  # present in both but flagged: (cell, why)
    only_a: list[Key]
    only_b: list[Key]
    overall: dict[str, Stats] = field(default_factory=dict)
    by_seq: dict[str, dict[str, Stats]] = field(default_factory=dict)
    crossovers: dict[str, list[str]] = field(default_factory=dict)  # seq -> sentences
    counted: list[tuple[Key, str]] = field(default_factory=list)  # flagged, counted on request: (cell, why)
    count_flagged: frozenset[str] = frozenset()  # the flag codes that do not keep a cell out


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b


def stats(rows: list[CellRatio], figure: str) -> Stats:
    values = [(r.ratios[figure], r.key) for r in rows if r.ratios.get(figure) is not None]
    if not values:
        return Stats(0, None, None, None, None, None)
    geo = math.exp(sum(math.log(v) for v, _ in values) / len(values))
    low = min(values)
    high = max(values)
    return Stats(len(values), geo, low[0], low[1], high[0], high[1])


def clean(cell: CellResult, count_flagged: frozenset[str] = frozenset()) -> bool:
    """Whether a cell may enter the statistics: no flag, or only flags of the codes counted anyway."""
    return all(f.code in count_flagged for f in cell.flags)


def compare(a: Run, b: Run, count_flagged: frozenset[str] = frozenset()) -> Comparison:
    cells_a = {key(c): c for c in a.cells if c.completed}
    cells_b = {key(c): c for c in b.cells if c.completed}
    rows, excluded, counted = [], [], []
    for k in sorted(cells_a.keys() & cells_b.keys(), key=order):
        ca, cb = cells_a[k], cells_b[k]
        if pace(ca) != pace(cb):
            excluded.append((k, f"{NOT_SAME_LOAD}: {a.name} sent {pace(ca)}, {b.name} {pace(cb)}"))
            continue
        why = [f"{side}: {f.reason}" for side, c in ((a.name, ca), (b.name, cb)) for f in c.flags]
        if not (clean(ca, count_flagged) and clean(cb, count_flagged)):
            excluded.append((k, "; ".join(why)))
            continue
        if why:
            counted.append((k, "; ".join(why)))
        rows.append(CellRatio(k, ca, cb, {m.key: ratio(m.value(ca), m.value(cb)) for m in COMPARED}))
    only_a = sorted(cells_a.keys() - cells_b.keys(), key=order)
    result = Comparison(a, b, rows, excluded, only_a, sorted(cells_b.keys() - cells_a.keys(), key=order))
    result.counted, result.count_flagged = counted, frozenset(count_flagged)
    result.overall = {m.key: stats(rows, m.key) for m in COMPARED}
    for seq in dict.fromkeys(k.seq for k in sorted(cells_a.keys() & cells_b.keys(), key=order)):
        in_seq = [r for r in rows if r.key.seq == seq]
        result.by_seq[seq] = {m.key: stats(in_seq, m.key) for m in COMPARED}
        result.crossovers[seq] = crossovers(in_seq, a.name, b.name)
    return result


def against_last(runs: list[Run], count_flagged: frozenset[str] = frozenset()) -> list[Comparison]:
    """Each run relative to the last one (the baseline), as `compare RUN_A RUN_B [RUN_C ...]` reads."""
    return [compare(r, runs[-1], count_flagged) for r in runs[:-1]]


def crossovers(rows: list[CellRatio], name_a: str, name_b: str) -> list[str]:
    """Where the lead in output throughput changes hands along the load (concurrency or rate), in words."""
    points = [(r.key, r.ratios[LEAD]) for r in rows if r.ratios.get(LEAD) is not None]
    points.sort(key=lambda p: order(p[0]))
    if not points:
        return []
    out = []
    leader = None
    for k, value in points:
        now = name_a if value > 1 else name_b if value < 1 else None
        if now is not None and leader is not None and now != leader:
            out.append(f"{now} takes the lead at {level_text(k)}")
        leader = now or leader
    if not out:
        side = name_a if all(v > 1 for _, v in points) else name_b if all(v < 1 for _, v in points) else None
        axes = {k.axis for k, _ in points}
        if side and len(points) > 1 and axes <= {"concurrency", "rate"} and len(axes) == 1:
            unit = " req/s" if axes == {"rate"} else ""
            first, last = points[0][0].level, points[-1][0].level
            out.append(f"{side} leads at every {axes.pop()} ({first:g} to {last:g}{unit})")
        elif side:
            out.append(
                f"{side} leads at {level_text(points[0][0])}" if len(points) == 1 else f"{side} leads in every cell"
            )
    return out


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def table_rows(c: Comparison) -> list[list[str]]:
    """The per-cell ratio table (header first), as `compare` prints it and the HTML report shows it."""
    rows = [["cell", *(m.compared.label for m in COMPARED)]]
    rows += [[describe(r.key), *(fmt_ratio(r.ratios[m.key]) for m in COMPARED)] for r in c.cells]
    return rows


# -- iso-latency ------------------------------------------------------------------------------
def curve(
    cells: list[CellResult], x: str, y: str, count_flagged: frozenset[str] = frozenset()
) -> list[tuple[float, float]]:
    """Points (x, y) of one ISL/OSL, sorted by x, clean cells with both values only (x and y: metric keys)."""
    mx, my = metric(x), metric(y)
    pairs = ((mx.value(c), my.value(c)) for c in cells if clean(c, count_flagged))
    return sorted((px, py) for px, py in pairs if px is not None and py is not None)


def interpolate(points: list[tuple[float, float]], at: float) -> float | None:
    """y at x = `at` on the piecewise-linear curve; None outside the measured range."""
    if not points or at < points[0][0] or at > points[-1][0]:
        return None
    xs = [p[0] for p in points]
    i = bisect.bisect_left(xs, at)
    if xs[i] == at:
        return points[i][1]
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (at - x0) / (x1 - x0)


@dataclass
class IsoPoint:
    seq: str
    at: float  # the x value (latency in ms, or tok/s/user)
    a: float
    b: float

    @property
    def ratio(self) -> float:
        return self.a / self.b


def iso(
    a: Run,
    b: Run,
    x: str,
    y: str,
    targets: list[float] | None = None,
    steps: int = 5,
    count_flagged: frozenset[str] = frozenset(),
) -> list[IsoPoint]:
    """Throughput of each run at equal x (latency or interactivity), per ISL/OSL: at the given
    targets, or at `steps` points evenly across the range both runs cover."""
    out = []
    seqs = sorted({c.seq for c in a.cells} & {c.seq for c in b.cells})
    for seq in seqs:
        pa = curve([c for c in a.cells if c.seq == seq], x, y, count_flagged)
        pb = curve([c for c in b.cells if c.seq == seq], x, y, count_flagged)
        if len(pa) < 2 or len(pb) < 2:
            continue
        lo, hi = max(pa[0][0], pb[0][0]), min(pa[-1][0], pb[-1][0])
        if lo > hi:
            continue
        at = targets if targets else [lo + (hi - lo) * i / (steps - 1) for i in range(steps)]
        for t in at:
            ya, yb = interpolate(pa, t), interpolate(pb, t)
            if ya and yb:
                out.append(IsoPoint(seq, t, ya, yb))
    return out


# -- the seed's sentence ----------------------------------------------------------------------
def summary_sentence(c: Comparison) -> str:
    """'A delivers 1.12x the output throughput of B across 18 cells (geomean); up to 1.40x at
    concurrency 128, 8192/1024; B leads below concurrency 32 on 1024/1024.' Computed, never typed."""
    s = c.overall[LEAD]
    if not s.n:
        return f"{c.a.name} and {c.b.name} have no clean cell in common: nothing to compare."
    text = f"{c.a.name} delivers {s.geomean:.2f}x the output throughput of {c.b.name} across {s.n} cells (geomean)"
    if s.high is not None and s.high > 1:
        text += f"; up to {s.high:.2f}x at {describe(s.high_at)}"
    if s.low is not None and s.low < 1:
        text += f"; {c.b.name} up to {1 / s.low:.2f}x at {describe(s.low_at)}"
    turns = [f"{t} on {seq}" for seq, ts in c.crossovers.items() for t in ts if "takes the lead" in t]
    if turns:
        text += "; " + "; ".join(turns)
    if c.counted:
        n = len(c.counted)
        text += f" ({n} cell{'' if n == 1 else 's'} flagged {'/'.join(sorted(c.count_flagged))} counted on request)"
    left = len(c.excluded) + len(c.only_a) + len(c.only_b)
    if left:
        text += f" ({left} cells left out: see below)"
    return text + "."
