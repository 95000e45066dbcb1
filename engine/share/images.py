"""One image per curve, for slides: SVG by our own writer (no dependency), PNG by matplotlib, an
optional extra (`pip install 'llmbench-tui[plot]'`) that the terminal plots and HTML never need."""

from __future__ import annotations

import re
from pathlib import Path

from engine.compare.sources import Run
from engine.report.curves import VIEWS, Series, View, series, view
from engine.share.html import overlay_series
from engine.share.svg import chart, style

PLOT_EXTRA = "pip install 'llmbench-tui[plot]'"
# Our marker shapes in matplotlib's names, so a PNG and the report's SVG draw a series alike.
MPL_MARKERS = {
    "circle": "o",
    "square": "s",
    "triangle": "^",
    "diamond": "D",
    "triangle-down": "v",
    "plus": "P",
    "cross": "X",
    "star": "*",
}


class MissingExtra(Exception):
    """matplotlib is not installed (the message says how to install it)."""


def figures(runs: list[Run]) -> list[tuple[str, View, list[Series], str]]:
    """(file stem, view, series, title) of every curve worth a slide: each run's views, and with
    several runs their throughput-latency curves overlaid."""
    out = []
    for run in runs:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", run.name).strip("-") or "run"
        for v in VIEWS:
            drawn = series(run.cells, v.name)
            if any(s.xs for s in drawn):
                out.append((f"{stem}-{v.name}", v, drawn, f"{v.title} — {run.name}"))
    if len(runs) > 1:
        latency = view("latency")
        out.append(("all-runs-latency", latency, overlay_series(runs), f"{latency.title} — all runs"))
    return out


def write_svgs(runs: list[Run], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, v, drawn, title in figures(runs):
        path = folder / f"{stem}.svg"
        path.write_text("<?xml version='1.0' encoding='UTF-8'?>\n" + chart(drawn, v, title=title) + "\n")
        written.append(path)
    return written


def pyplot():
    """matplotlib.pyplot on its file-only backend, or MissingExtra saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on an SSH host
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtra(
            f"PNG export needs matplotlib: {PLOT_EXTRA} (or use --svg DIR, which needs nothing)"
        ) from None
    return plt


def write_pngs(runs: list[Run], folder: Path) -> list[Path]:
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, v, drawn, title in figures(runs):
        fig, ax = plt.subplots(figsize=(8, 5), dpi=150)
        right = ax.twinx() if any(s.right_axis for s in drawn) else None
        for i, s in enumerate(drawn):
            if not s.xs:
                continue
            colour, shape = style(i)
            axis = right if s.right_axis else ax
            axis.plot(
                s.xs,
                s.ys,
                color=colour,
                marker=MPL_MARKERS[shape],
                linestyle="--" if s.right_axis else "-",
                label=s.label,
            )
            if any(s.y_spread):  # rounds: each point's 95% interval
                axis.errorbar(s.xs, s.ys, yerr=s.y_spread, fmt="none", ecolor=colour, capsize=4, linewidth=1.2)
            for x, y, text in zip(s.xs, s.ys, s.point_labels):
                flagged = text.endswith("!")
                axis.annotate(
                    text,
                    (x, y),
                    textcoords="offset points",
                    xytext=(5, 5),
                    fontsize=8,
                    color="#b00020" if flagged else "#333333",
                    fontweight="bold" if flagged else "normal",
                )
        ax.set_title(title)
        ax.set_xlabel(v.x_label)
        ax.set_ylabel(v.y_label)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(True, color="#e3e3e3")
        handles, labels = ax.get_legend_handles_labels()
        if right is not None:
            right.set_ylabel(v.y_label_right or "")
            right.set_ylim(bottom=0)
            more = right.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        ax.legend(handles, labels, fontsize=8, loc="best")
        fig.tight_layout()
        path = folder / f"{stem}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
