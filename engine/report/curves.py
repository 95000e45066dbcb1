"""The curves of a run, as data: one series per ISL/OSL, one point per concurrency.

Shared by the headless console and the TUI so both draw exactly the same thing. A cell of several
rounds (--repeat N) has its spread drawn: error bars of its figure's 95% interval. Series differ
by marker as well as by colour (readable under NO_COLOR and in a pasted log); the legend goes in
the title, where it never covers a point; a point whose cell is flagged is labelled "C!".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.report.model import CellResult
from engine.report.registry import METRICS

MARKERS = ("o", "+", "x", "*", "#", "@", "%", "&")


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    point_labels: list[str]
    right_axis: bool = False
    # The half-width of each y's 95% interval over the cell's rounds (0: one round, no interval).
    y_spread: list[float] = field(default_factory=list)

    def y_top(self) -> list[float]:
        """Each point's y with its spread above it: how high the series reaches."""
        return [y + h for y, h in zip(self.ys, self.y_spread or [0.0] * len(self.ys))]


@dataclass(frozen=True)
class View:
    name: str
    title: str
    x_label: str
    y_label: str
    y_label_right: str | None = None


VIEWS = [
    View("latency", "Total throughput vs E2E latency", "mean end-to-end latency (s)", "total tok/s"),
    View(
        "interactivity",
        "Throughput per GPU vs interactivity",
        "interactivity (tok/s/user = 1000/TPOT)",
        "total tok/s per GPU",
    ),
    View("ttft", "TTFT p50 (left) and TPOT (right) vs concurrency", "concurrency", "TTFT p50 (ms)", "TPOT (ms)"),
]


# Overlaid runs are told apart by marker, so only the views with one series per ISL/OSL overlay
# (the TTFT/TPOT view already spends markers on its two axes).
OVERLAY_VIEWS = [v for v in VIEWS if v.y_label_right is None]
# One colour per overlaid run, on top of its marker (the marker alone reads under NO_COLOR).
RUN_COLORS = ("blue+", "orange+", "green+", "magenta+", "cyan+", "red+", "gray+", "default")


def _by_seq(cells: list[CellResult]) -> dict[str, list[CellResult]]:
    groups: dict[str, list[CellResult]] = {}
    for c in cells:
        if c.completed:
            groups.setdefault(c.seq, []).append(c)
    for points in groups.values():
        points.sort(key=lambda c: c.load_level)
    return groups


def _series(
    label: str, points: list[tuple[float | None, float | None, CellResult]], y_key: str, right: bool = False
) -> Series:
    # A figure that could not be measured (None) is not drawn: no point where there is no value.
    kept = [(x, y, c) for x, y, c in points if x is not None and y is not None]
    labels = [f"{c.load_label.removeprefix('c=')}{'!' if c.flagged else ''}" for _, _, c in kept]
    figure = METRICS[y_key]
    spread = [i.half_width if (i := figure.interval(c)) is not None else 0.0 for _, _, c in kept]
    return Series(label, [x for x, _, _ in kept], [y for _, y, _ in kept], labels, right, spread)


def series(cells: list[CellResult], view: str = "latency") -> list[Series]:
    out = []
    for seq, points in _by_seq(cells).items():
        if view == "latency":
            e2e = [(p.mean_e2el_ms / 1000 if p.mean_e2el_ms is not None else None) for p in points]
            tput = [(x, p.total_token_throughput, p) for x, p in zip(e2e, points)]
            out.append(_series(seq, tput, "total_token_throughput"))
        elif view == "interactivity":
            per_gpu = [(p.interactivity, p.total_token_throughput_per_gpu, p) for p in points]
            out.append(_series(seq, per_gpu, "total_token_throughput_per_gpu"))
        elif view == "ttft":
            out.append(_series(f"{seq} TTFT", [(p.load_level, p.median_ttft_ms, p) for p in points], "median_ttft_ms"))
            tpot = [(p.load_level, p.mean_tpot_ms, p) for p in points]
            out.append(_series(f"{seq} TPOT", tpot, "mean_tpot_ms", right=True))
        else:
            raise ValueError(f"unknown view {view!r}: one of {', '.join(v.name for v in VIEWS)}")
    return out


def view(name: str) -> View:
    for v in VIEWS:
        if v.name == name:
            return v
    raise ValueError(f"unknown view {name!r}")


def draw(plt, cells: list[CellResult], view_name: str = "latency") -> None:
    """Draw a view onto a plotext module or a textual-plotext `plt` (same API)."""
    v = view(view_name)
    plt.clear_data()
    legend, xs = [], []
    for i, s in enumerate(series(cells, view_name)):
        if not s.xs:
            continue
        marker = MARKERS[i % len(MARKERS)]
        _plot(plt, s, marker)
        legend.append(f"{marker} {s.label}")
        xs += s.xs
    _frame(plt, v, legend, xs, any(c.flagged for c in cells))


def draw_runs(plt, runs: list[tuple[str, list[CellResult]]], view_name: str = "latency") -> None:
    """Several runs overlaid, each in its own marker and colour (one line per ISL/OSL)."""
    v = view(view_name)
    if v not in OVERLAY_VIEWS:
        raise ValueError(f"view {view_name!r} cannot overlay runs: one of {', '.join(w.name for w in OVERLAY_VIEWS)}")
    plt.clear_data()
    legend, xs = [], []
    for i, (name, cells) in enumerate(runs):
        marker, color = MARKERS[i % len(MARKERS)], RUN_COLORS[i % len(RUN_COLORS)]
        for s in series(cells, view_name):
            if s.xs:
                _plot(plt, s, marker, color)
                xs += s.xs
        legend.append(f"{marker} {name}")
    _frame(plt, v, legend, xs, any(c.flagged for _, cells in runs for c in cells))


def _plot(plt, s: Series, marker: str, color: str | None = None) -> None:
    side = "right" if s.right_axis else "left"
    plt.plot(s.xs, s.ys, marker="braille", yside=side, color=color)
    if any(s.y_spread):  # rounds: each point's 95% interval as an error bar
        plt.error(s.xs, s.ys, yerr=s.y_spread, yside=side, color=color)
    for x, y, text in zip(s.xs, s.ys, s.point_labels):
        # The point itself: its marker, then its label.
        plt.text(f"{marker}{text}", x, y, yside=side, alignment="left", color=color)


def _frame(plt, v: View, legend: list[str], xs: list[float], flagged: bool) -> None:
    if xs and max(xs) > min(xs):
        # Room on the right, so the last point's label is not cut off by the frame.
        span = max(xs) - min(xs)
        plt.xlim(min(xs) - 0.02 * span, max(xs) + 0.12 * span)
    # The legend is the title (short, so it survives an 80-column terminal); the view's name is
    # shown by the front end.
    plt.title(f"{'  '.join(legend)}  (marker+concurrency{', ! flagged' if flagged else ''})")
    plt.xlabel(v.x_label)
    plt.ylabel(v.y_label, yside="left")
    if v.y_label_right:
        plt.ylabel(v.y_label_right, yside="right")
