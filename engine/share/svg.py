"""A small SVG writer for the curves of engine.report.curves: no JavaScript, no external assets,
no matplotlib, so an HTML report opens offline and a slide can take the file as it is.

Each series has its own marker shape as well as its own colour (Okabe-Ito, safe for colour-blind
readers), so a chart reads in greyscale; each point is labelled with its concurrency, and a point
whose cell is flagged with "!" (as in the terminal plots). A series without point labels (a
reading over time) is a bare line, broken where a value is NaN (no reading there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from engine.report.curves import Series, View

COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C6D1F")
SHAPES = ("circle", "square", "triangle", "diamond", "triangle-down", "plus", "cross", "star")
FONT = "font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'"


def style(i: int) -> tuple[str, str]:
    """The colour and marker shape of the i-th series (the PNG export uses the same pairs)."""
    return COLOURS[i % len(COLOURS)], SHAPES[i % len(SHAPES)]


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Ticks from 0 to at least `high` on a 1-2-5 step: axes start at zero so ratios read true."""
    high = high if high > 0 else 1.0
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    n = math.ceil(high / step - 1e-9)
    return [i * step for i in range(n + 1)]


def tick_text(value: float, step: float) -> str:
    if step >= 1:
        return f"{value:,.0f}"
    decimals = next(d for d in range(7) if abs(round(step, d) - step) < step * 1e-6)
    return f"{value:.{decimals}f}"


def marker(shape: str, x: float, y: float, colour: str, r: float = 4.5) -> str:
    fill = f"fill='{colour}' stroke='{colour}'"
    if shape == "circle":
        return f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r}' {fill}/>"
    if shape == "square":
        return f"<rect x='{x - r:.1f}' y='{y - r:.1f}' width='{2 * r}' height='{2 * r}' {fill}/>"
    if shape in ("plus", "cross"):
        d = r + 0.5
        if shape == "plus":
            path = f"M{x - d:.1f},{y:.1f}H{x + d:.1f}M{x:.1f},{y - d:.1f}V{y + d:.1f}"
        else:
            path = f"M{x - d:.1f},{y - d:.1f}L{x + d:.1f},{y + d:.1f}M{x - d:.1f},{y + d:.1f}L{x + d:.1f},{y - d:.1f}"
        return f"<path d='{path}' stroke='{colour}' stroke-width='2.2' fill='none'/>"
    # A star alternates outer and inner corners (radius 1.3 and 0.6 of r).
    star = [
        ((1.3, 0.6)[a % 2] * math.sin(a * math.pi / 5), -(1.3, 0.6)[a % 2] * math.cos(a * math.pi / 5))
        for a in range(10)
    ]
    corners = {
        "triangle": [(0, -1.2), (1.1, 0.8), (-1.1, 0.8)],
        "triangle-down": [(0, 1.2), (1.1, -0.8), (-1.1, -0.8)],
        "diamond": [(0, -1.3), (1.1, 0), (0, 1.3), (-1.1, 0)],
        "star": star,
    }[shape]
    points = " ".join(f"{x + dx * r:.1f},{y + dy * r:.1f}" for dx, dy in corners)
    return f"<polygon points='{points}' {fill}/>"


@dataclass(frozen=True)
class _Frame:
    """The plot area inside the chart, and the ticks its axes end at."""

    left: float
    top: float
    width: float
    height: float
    xt: list[float]
    yt: list[float]
    rt: list[float]  # the right axis (TPOT beside TTFT), when a series uses it

    def px(self, x: float) -> float:
        return self.left + self.width * x / self.xt[-1]

    def py(self, y: float, on_right: bool = False) -> float:
        return self.top + self.height - self.height * y / (self.rt if on_right else self.yt)[-1]


def chart(series: list[Series], view: View, width: int = 600, height: int = 420, title: str | None = None) -> str:
    """One view as a standalone <svg> element (well-formed XML; inline in HTML as it is)."""
    drawn = [(i, s) for i, s in enumerate(series) if s.xs]
    right = any(s.right_axis for _, s in drawn)
    left, right_margin, bottom = 78, (78 if right else 36), 56
    rows = _legend_rows(drawn, width - left - 10)
    # A title too wide for the chart breaks at its dash: the view on one line, the run's name under it.
    heading = title or view.title
    lines = heading.split(" — ") if 8.5 * len(heading) > width - left else [heading]
    legend_y = 24 + 18 * len(lines)
    top = legend_y + 20 * max(len(rows), 1)
    # Headroom (8%) past the highest point: its marker and label stay inside the frame.
    # A NaN in ys is a gap (no reading there): no tick is made from it, and the line breaks at it.
    frame = _Frame(
        left,
        top,
        width - left - right_margin,
        height - top - bottom,
        nice_ticks(1.08 * max((x for _, s in drawn for x in s.xs), default=1.0)),
        nice_ticks(1.08 * max((y for _, s in drawn if not s.right_axis for y in s.y_top() if y == y), default=1.0)),
        nice_ticks(1.08 * max((y for _, s in drawn if s.right_axis for y in s.y_top() if y == y), default=1.0)),
    )
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"role='img' {FONT} font-size='12'>",
        f"<title>{escape(heading)}</title>",
        f"<rect width='{width}' height='{height}' fill='#ffffff'/>",
    ]
    for n, line in enumerate(lines):
        size, weight = (15, " font-weight='600'") if n == 0 else (12, " fill='#555555'")
        out.append(f"<text x='{left}' y='{22 + 18 * n}' font-size='{size}'{weight}>{escape(line)}</text>")
    for r, entries_row in enumerate(rows):
        y = legend_y + 20 * r
        for i, label, dx in entries_row:
            colour, shape = style(i)
            x = left + dx
            out.append(f"<line x1='{x}' y1='{y}' x2='{x + 18}' y2='{y}' stroke='{colour}' stroke-width='2'/>")
            out.append(marker(shape, x + 9, y, colour))
            out.append(f"<text x='{x + 24}' y='{y + 4}'>{escape(label)}</text>")
    out += _axes(frame, view, width, height, right)
    for i, s in drawn:
        out += _series(frame, i, s)
    out.append("</svg>")
    return "\n".join(out)


def _legend_rows(drawn: list[tuple[int, Series]], room: float) -> list[list[tuple[int, str, int]]]:
    """The legend wraps under the title, one entry per series: (its index, label, x offset)."""
    rows, row, used = [], [], 0
    for i, s in drawn:
        w = 28 + 7 * len(s.label)
        if row and used + w > room:
            rows.append(row)
            row, used = [], 0
        row.append((i, s.label, used))
        used += w
    if row:
        rows.append(row)
    return rows


def _axes(f: _Frame, view: View, width: int, height: int, right: bool) -> list[str]:
    """Grid lines, tick labels, the frame and the axis labels."""
    out = []
    for t in f.yt:
        y = f.py(t)
        out.append(f"<line x1='{f.left}' y1='{y:.1f}' x2='{f.left + f.width}' y2='{y:.1f}' stroke='#e3e3e3'/>")
        text = tick_text(t, f.yt[1] - f.yt[0])
        out.append(f"<text x='{f.left - 6}' y='{y + 4:.1f}' text-anchor='end'>{text}</text>")
    for t in f.xt:
        x = f.px(t)
        out.append(f"<line x1='{x:.1f}' y1='{f.top}' x2='{x:.1f}' y2='{f.top + f.height}' stroke='#eeeeee'/>")
        text = tick_text(t, f.xt[1] - f.xt[0])
        out.append(f"<text x='{x:.1f}' y='{f.top + f.height + 17}' text-anchor='middle'>{text}</text>")
    middle = f"{f.top + f.height / 2:.0f}"
    if right:
        for t in f.rt:
            text = tick_text(t, f.rt[1] - f.rt[0])
            out.append(f"<text x='{f.left + f.width + 6}' y='{f.py(t, True) + 4:.1f}'>{text}</text>")
        out.append(
            f"<text transform='translate({width - 14},{middle}) rotate(90)' text-anchor='middle'>"
            f"{escape(view.y_label_right or '')}</text>"
        )
    out.append(f"<rect x='{f.left}' y='{f.top}' width='{f.width}' height='{f.height}' fill='none' stroke='#555555'/>")
    out.append(
        f"<text x='{f.left + f.width / 2:.0f}' y='{height - 14}' text-anchor='middle'>{escape(view.x_label)}</text>"
    )
    out.append(
        f"<text transform='translate(18,{middle}) rotate(-90)' text-anchor='middle'>{escape(view.y_label)}</text>"
    )
    return out


def _series(f: _Frame, i: int, s: Series) -> list[str]:
    """One series: a line (broken at gaps), a marker per point and its concurrency label ("!" when flagged)."""
    colour, shape = style(i)
    pts = [(f.px(x), f.py(y, s.right_axis) if y == y else None) for x, y in zip(s.xs, s.ys)]
    dash = " stroke-dasharray='6 4'" if s.right_axis else ""
    segments: list[list[str]] = [[]]
    for x, y in pts:
        if y is None:
            segments.append([])
        else:
            segments[-1].append(f"{x:.1f},{y:.1f}")
    out = []
    for segment in (seg for seg in segments if seg):
        line = " ".join(segment)
        out.append(f"<polyline points='{line}' fill='none' stroke='{colour}' stroke-width='1.8'{dash}/>")
    for (x, y), vy, half in zip(pts, s.ys, s.y_spread):
        if y is not None and half > 0:  # rounds: the 95% interval, a whisker with caps
            low, high = f.py(max(0.0, vy - half), s.right_axis), f.py(vy + half, s.right_axis)
            whisker = f"M{x:.1f},{low:.1f}V{high:.1f}M{x - 4:.1f},{low:.1f}h8M{x - 4:.1f},{high:.1f}h8"
            out.append(f"<path d='{whisker}' stroke='{colour}' stroke-width='1.2' fill='none'/>")
    for (x, y), text, vx, vy in zip(pts, s.point_labels, s.xs, s.ys):
        if y is None:
            continue
        out.append(f"<g><title>{escape(f'{s.label}: concurrency {text}: x={vx:,.4g}, y={vy:,.4g}')}</title>")
        out.append(marker(shape, x, y, colour))
        weight = " font-weight='700' fill='#b00020'" if text.endswith("!") else " fill='#333333'"
        out.append(f"<text x='{x + 7:.1f}' y='{y - 7:.1f}' font-size='11'{weight}>{escape(text)}</text></g>")
    return out
