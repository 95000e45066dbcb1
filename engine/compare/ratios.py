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
from engine.compare.confidence import NO_DIFFERENCE, cell_interval, combined, interval_text, one_round, side, verdict
from engine.compare.sources import Run
from engine.report.model import CellResult
from engine.report.registry import COMPARED, metric
from engine.stats.intervals import RatioInterval

NOT_SAME_LOAD = "not the same load"  # an excluded cell's reason when the two sides' arrivals differ
LEAD = "output_throughput"  # the figure the summary, the lead and the crossovers speak of


@dataclass
class CellRatio:
    key: Key
    a: CellResult
    b: CellResult
    ratios: dict[str, float | None]  # compared metric's key -> A / B (None where either side has no value)
    # compared metric's key -> the ratio's 95% interval from both runs' rounds (None: one round in either)
    intervals: dict[str, RatioInterval | None] = field(default_factory=dict)


@dataclass
class Stats:
    """Geometric mean, min and max of one figure's ratios over a set of cells."""

    n: int
    geomean: float | None
    low: float | None
    low_at: Key | None
    high: float | None
    high_at: Key | None
    interval: RatioInterval | None = None  # the geometric mean's 95% interval (None: a cell of one round)
    no_difference: int = 0  # cells whose interval holds 1.00


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
    """The geomean (with its interval where every cell has one), the lowest and highest ratio, and
    how many cells' intervals hold 1.00."""
    measured = [r for r in rows if r.ratios.get(figure) is not None]
    if not measured:
        return Stats(0, None, None, None, None, None)
    values = [(r.ratios[figure], r.key) for r in measured]
    geo = math.exp(sum(math.log(v) for v, _ in values) / len(values))
    intervals = [r.intervals.get(figure) for r in measured]
    low, high = min(values), max(values)
    ties = sum(1 for i in intervals if i is not None and i.spans_one)
    return Stats(len(values), geo, low[0], low[1], high[0], high[1], combined(intervals), ties)


def resolved(rows: list[CellRatio], figure: str) -> Stats:
    """stats() over the cells whose interval leaves out 1.00 (or that have none): the ones an "up
    to" may name (a tie is no "up to")."""
    return stats([r for r in rows if (i := r.intervals.get(figure)) is None or not i.spans_one], figure)


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
        ratios = {m.key: ratio(m.value(ca), m.value(cb)) for m in COMPARED}
        rows.append(CellRatio(k, ca, cb, ratios, {m.key: cell_interval(ca, cb, m) for m in COMPARED}))
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
    """Where the lead in output throughput changes hands along the load (concurrency or rate), in
    words. A cell whose interval holds 1.00 is a tie: no lead there, none taken or lost."""
    points = [(r.key, side(r.ratios[LEAD], r.intervals.get(LEAD))) for r in rows if r.ratios.get(LEAD) is not None]
    points.sort(key=lambda p: order(p[0]))
    if not points:
        return []
    names = {1: name_a, -1: name_b}
    out, leader = [], 0
    for k, now in points:
        if now and leader and now != leader:
            out.append(f"{names[now]} takes the lead at {level_text(k)}")
        leader = now or leader
    if not out:
        sides = {lead for _, lead in points}
        who = names.get(sides.pop()) if len(sides) == 1 else None
        axes = {k.axis for k, _ in points}
        if who and len(points) > 1 and axes <= {"concurrency", "rate"} and len(axes) == 1:
            unit = " req/s" if axes == {"rate"} else ""
            first, last = points[0][0].level, points[-1][0].level
            out.append(f"{who} leads at every {axes.pop()} ({first:g} to {last:g}{unit})")
        elif who:
            out.append(
                f"{who} leads at {level_text(points[0][0])}" if len(points) == 1 else f"{who} leads in every cell"
            )
    return out


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def table_rows(c: Comparison) -> list[list[str]]:
    """The per-cell ratio table (header first), as `compare` prints it and the HTML report shows it;
    where the runs have rounds, each ratio's 95% interval and what the output throughput's says."""
    with_ci = any(i is not None for r in c.cells for i in r.intervals.values())
    rows = [["cell", *(m.compared.label for m in COMPARED), *(["output tok/s, 95% CI"] if with_ci else [])]]
    for r in c.cells:
        ratios = [fmt_ratio(r.ratios[m.key]) + interval_text(r.intervals.get(m.key)) for m in COMPARED]
        said = [verdict(r.intervals.get(LEAD), c.a.name, c.b.name)] if with_ci else []
        rows.append([describe(r.key), *ratios, *said])
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
    """'A delivers 1.12x (95% CI 1.05-1.19) the output throughput of B across 18 cells (geomean); up
    to 1.40x at concurrency 128, 8192/1024; B leads below concurrency 32 on 1024/1024.' Computed,
    never typed. Without rounds on both sides it says no interval can be given."""
    s = c.overall[LEAD]
    if not s.n:
        return f"{c.a.name} and {c.b.name} have no clean cell in common: nothing to compare."
    ci = f" (95% CI {s.interval.low:.2f}-{s.interval.high:.2f})" if s.interval is not None else ""
    text = f"{c.a.name} delivers {s.geomean:.2f}x{ci} the output throughput of {c.b.name} across {s.n} cells (geomean)"
    text += _confidence(c, s)
    told = resolved(c.cells, LEAD)
    if told.high is not None and told.high > 1:
        text += f"; up to {told.high:.2f}x at {describe(told.high_at)}"
    if told.low is not None and told.low < 1:
        text += f"; {c.b.name} up to {1 / told.low:.2f}x at {describe(told.low_at)}"
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


def _confidence(c: Comparison, s: Stats) -> str:
    """What the intervals say, after the geomean: no measurable difference overall, how many cells
    show none; or that one round in a run leaves no interval to give."""
    single = one_round([(c.a.name, [r.a for r in c.cells]), (c.b.name, [r.b for r in c.cells])])
    if single:
        return f"; no interval can be given: {' and '.join(single)} measured one round (run with --repeat 3 or more)"
    if s.interval is None:
        return "; no interval can be given: a cell has one round in a run"
    text = f"; {NO_DIFFERENCE}" if s.interval.spans_one else ""
    if s.no_difference:
        text += f"; {s.no_difference} of {s.n} cells show {NO_DIFFERENCE} (their interval holds 1.00)"
    return text
