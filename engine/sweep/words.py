"""A frontier comparison in words: the seed's sentence ("mi355x's best delivers 1.12x b200's best
output tokens per GPU at 20-60 tok/s/user (geomean) ..."), computed, never typed; the ratio table;
who forms each frontier; what one side covers and the other does not. One definition for the
headless `compare`, the HTML report and the JSON export."""

from __future__ import annotations

from engine.sweep.compare import AxisComparison, FrontierComparison, Sample, Stretch

ROWS = 7  # rows of the ratio table across the common range


def num(x: float, fine: bool = False) -> str:
    """An x or a y as people read it: whole numbers from 10 up (one decimal where `fine`: a range
    too narrow for whole numbers to tell its points apart), two significant digits below."""
    if abs(x) >= 10:
        return f"{x:,.1f}" if fine else f"{x:,.0f}"
    return f"{x:.2g}"


def where(c: AxisComparison, x: float) -> str:
    return f"{num(x)} {c.axis.unit}"


def span(c: AxisComparison) -> str:
    return f"{num(c.low)}-{num(c.high)} {c.axis.unit}"


def lead_words(c: AxisComparison) -> str:
    """Who leads where along x: 'mi355x leads below 40 tok/s/user, b200 above'."""
    if not c.leads:
        return "neither leads: the frontiers coincide"
    if len(c.leads) == 1:
        return f"{c.leads[0][1]} leads across the range"
    parts = []
    for i, (x, who) in enumerate(c.leads):
        if i == 0:
            parts.append(f"{who} leads below {where(c, c.leads[1][0])}")
        elif i == len(c.leads) - 1:
            parts.append(f"{who} above")
        else:
            parts.append(f"{who} from {num(x)} to {where(c, c.leads[i + 1][0])}")
    return ", ".join(parts)


def coverage(c: AxisComparison, name_a: str, name_b: str) -> list[str]:
    """What one frontier covers and the other does not (no ratio is read there)."""
    if c.range_a is None or c.range_b is None:
        missing = name_a if c.range_a is None else name_b
        return [f"{c.seq}: {missing} has no point with a {c.axis.unit} figure: nothing to compare"]
    out = []
    (la, ha), (lb, hb) = c.range_a, c.range_b
    for name, lo, hi, other_lo, other_hi in ((name_a, la, ha, lb, hb), (name_b, lb, hb, la, ha)):
        if lo < other_lo:
            out.append(f"{c.seq}: only {name}'s frontier reaches below {where(c, other_lo)} (down to {where(c, lo)})")
        if hi > other_hi:
            out.append(f"{c.seq}: only {name}'s frontier reaches above {where(c, other_hi)} (up to {where(c, hi)})")
    if not c.samples:
        out.append(f"{c.seq}: the frontiers cover no common range of {c.axis.unit}: nothing to compare")
    return out


def sentence(c: AxisComparison, name_a: str, name_b: str) -> str:
    """The seed's sentence for one ISL/OSL on one axis."""
    if not c.samples:
        return f"{c.seq}: {name_a} and {name_b} cover no common range of {c.axis.unit}."
    text = (
        f"{name_a}'s best delivers {c.geomean:.2f}x {name_b}'s best output tokens per GPU at {span(c)} "
        f"(geomean, {c.seq})"
    )
    hi, lo = c.highest, c.lowest
    if hi is not None and hi.ratio > 1:
        text += f"; up to {hi.ratio:.2f}x at {where(c, hi.at)}"
    if lo is not None and lo.ratio < 1:
        text += f"; {name_b}'s best up to {1 / lo.ratio:.2f}x at {where(c, lo.at)}"
    if len(c.leads) > 1:
        text += f"; {lead_words(c)}"
    if (cost := c.cost_geomean) is not None:
        text += f"; cost per million output tokens {cost:.2f}x {name_b}'s (geomean)"
    return text + "."


def forming(stretch_list: list[Stretch], c: AxisComparison) -> str:
    return ", ".join(
        s.variant + (f" ({num(s.low)}-{num(s.high)})" if s.high > s.low else f" (at {num(s.low)})")
        for s in stretch_list
    )


def table_rows(c: AxisComparison, name_a: str, name_b: str) -> list[list[str]]:
    """The ratio curve at ROWS points across the common range (header first)."""
    cost = c.cost_geomean is not None
    head = [c.axis.unit, f"{name_a} out tok/s/GPU", f"{name_b} out tok/s/GPU", "ratio"]
    rows = [head + (["cost ratio"] if cost else [])]
    picks = _spread(c.samples, ROWS)
    fine = c.high - c.low < 2 * ROWS  # fewer whole units than rows: a decimal tells them apart
    for s in picks:
        row = [num(s.at, fine), f"{s.a:,.1f}", f"{s.b:,.1f}", f"{s.ratio:.2f}x"]
        rows.append(row + ([f"{s.cost_ratio:.2f}x"] if cost and s.cost_ratio is not None else []))
    return rows


def _spread(samples: list[Sample], n: int) -> list[Sample]:
    if len(samples) <= n:
        return samples
    step = (len(samples) - 1) / (n - 1)
    return [samples[round(i * step)] for i in range(n)]


def lines(fc: FrontierComparison) -> list[str]:
    """Everything but the table, per axis and ISL/OSL: the sentence, the lead, who forms each frontier."""
    out = []
    for c in fc.axes:
        out.append(f"{c.axis.title}, {c.seq}:")
        out.append(f"  {sentence(c, fc.name_a, fc.name_b)}")
        if c.samples:
            out.append(f"  lead: {lead_words(c)}")
            out.append(f"  {fc.name_a}'s frontier there: {forming(c.forming_a, c)}")
            out.append(f"  {fc.name_b}'s frontier there: {forming(c.forming_b, c)}")
        out += [f"  {line}" for line in coverage(c, fc.name_a, fc.name_b)]
    out += [f"only {fc.name_a} measured {seq}: not compared" for seq in fc.only_a]
    out += [f"only {fc.name_b} measured {seq}: not compared" for seq in fc.only_b]
    return out


def headline(fc: FrontierComparison) -> list[str]:
    """The sentences at equal interactivity (the seed's comparison), one per ISL/OSL."""
    return [sentence(c, fc.name_a, fc.name_b) for c in fc.axes if c.axis.name == "interactivity"]
