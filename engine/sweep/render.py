"""A sweep's frontier for people: the variants table, each frontier's points, the best variant per
SLO, the cells left off, and the frontier drawn in the terminal (each variant's points in its own
marker and colour, the frontier as a line through its points). Rows are plain text, header first,
for the console, the HTML report and Markdown alike."""

from __future__ import annotations

import re

from engine.report.curves import MARKERS, RUN_COLORS
from engine.sweep.compute import AXES, Axis, AxisFrontier, Frontier, Point
from engine.sweep.slo import Best, Slo
from engine.sweepspec import flag_arg

FRONTIER_COLOR = "red+"
SPREAD = 20.0  # figures spanning more than this factor are drawn on a log axis


def _na(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def variant_rows(f: Frontier) -> list[list[str]]:
    on = {p.variant for axis in f.axes.values() for front in axis.values() for p in front.frontier}
    rows = [["variant", "status", "GPUs", "flags", "env", "cells", "on a frontier", "error"]]
    for v in f.source.variants:
        flags = " ".join(f"{flag_arg(k)} {x}" for k, x in v.flags.items()) or (v.recipe or "-")
        env = " ".join(f"{k}={x}" for k, x in v.env.items()) or "-"
        cells = str(len(v.run.cells)) if v.run else "0"
        yes = "yes" if v.name in on else "no"
        error = v.error.splitlines()[0] if v.error else ""
        rows.append([v.name, v.status, str(v.gpus), flags, env, cells, yes, error])
    return rows


def point_row(p: Point, priced: bool) -> list[str]:
    row = [p.variant, p.load, _na(p.tok_s_per_user, "{:.1f}"), f"{p.output_tok_s_per_gpu:,.1f}"]
    row.append(_na(p.mean_e2e_ms, "{:,.0f}"))
    return row + ([_na(p.cost_per_mtok, "{:,.3f}")] if priced else [])


def frontier_rows(front: AxisFrontier, priced: bool) -> list[list[str]]:
    head = ["variant", "load", "tok/s/user", "out tok/s/GPU", "mean E2E ms"] + (["cost/1M out"] if priced else [])
    return [head] + [point_row(p, priced) for p in front.frontier]


def slo_rows(bests: list[Best], slo: Slo, priced: bool) -> list[list[str]]:
    head = ["ISL/OSL", "best variant", "load", "tok/s/user", "out tok/s/GPU", "mean E2E ms"]
    rows = [head + (["cost/1M out"] if priced else []) + ["cells meeting"]]
    for b in bests:
        met = f"{b.met} of {b.of}"
        if b.point is None:
            rows.append([b.seq, f"none meets {slo.describe()}", "", "", "", ""] + ([""] if priced else []) + [met])
        else:
            rows.append([b.seq, *point_row(b.point, priced), met])
    return rows


def left_off_lines(f: Frontier) -> list[str]:
    out = [f"left off, flagged: {x.variant} {x.load} {x.seq}: {x.why}" for x in f.left_off]
    codes = "/".join(sorted(f.count_flagged))
    out += [
        f"counted though flagged ({codes} counted on request): {x.variant} {x.load} {x.seq}: {x.why}" for x in f.counted
    ]
    out += [
        f"variant {v.name} failed: {v.error or 'no reason recorded'}" for v in f.source.variants if v.status == "failed"
    ]
    return out + [f"note: {n}" for n in f.source.notes]


def cost_lines(f: Frontier) -> list[str]:
    """What the cost column means, where the cells were priced (none otherwise)."""
    if f.gpu_hour_cost is None:
        return []
    return [f"cost per million output tokens at {f.gpu_hour_cost:g} per GPU-hour (the profile's currency)"]


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def draw(plt, front: AxisFrontier, variants: list[str]) -> None:
    """One ISL/OSL's points on one axis onto a plotext module (or textual-plotext's `plt`): the
    frontier's line first, so each variant's markers stay visible on it; log axes where the
    figures span more than a factor of 20 (a frontier's throughput often spans a hundred)."""
    plt.clear_data()
    xs = [front.xy(p)[0] for p in front.frontier]
    plt.plot(xs, [p.output_tok_s_per_gpu for p in front.frontier], marker="braille", color=FRONTIER_COLOR)
    legend = []
    for i, name in enumerate(variants):
        mine = [p for p in front.points if p.variant == name]
        if not mine:
            continue
        marker, color = MARKERS[i % len(MARKERS)], RUN_COLORS[i % len(RUN_COLORS)]
        plt.scatter([front.xy(p)[0] for p in mine], [p.output_tok_s_per_gpu for p in mine], marker=marker, color=color)
        legend.append(f"{marker} {name}")
    for scale, values in (
        (plt.xscale, [front.xy(p)[0] for p in front.points]),
        (plt.yscale, [p.output_tok_s_per_gpu for p in front.points]),
    ):
        scale("log" if max(values) > SPREAD * min(values) else "linear")
    plt.title("  ".join(legend) + "  (line: the frontier)")
    plt.xlabel(front.axis.x_label + (" (log)" if max(xs) > SPREAD * min(xs) else ""))
    plt.ylabel("output tok/s per GPU")


def plot_heading(front: AxisFrontier) -> str:
    return f"{front.axis.title}, {front.seq}"


def plot_text(f: Frontier, axis: Axis, seq: str, width: int = 100, height: int = 22) -> str:
    import plotext as plt

    front = f.on(axis, seq)
    if front is None or not front.points:
        return ""
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    draw(plt, front, [v.name for v in f.source.variants])
    return f"{plot_heading(front)}\n" + re.sub(r"\x1b\[[0-9;]*m", "", plt.build())


def shown_frontiers(f: Frontier) -> list[AxisFrontier]:
    """Each axis's frontier per ISL/OSL, in the order shown, those with no point on the axis left out."""
    fronts = [f.on(axis, seq) for axis in AXES for seq in f.seqs()]
    return [front for front in fronts if front is not None and front.frontier]


def frontier_heading(front: AxisFrontier) -> str:
    return f"{front.axis.title}, {front.seq}: frontier of {len(front.frontier)} of {len(front.points)} points"


def sweep_heading(f: Frontier) -> str:
    return f"sweep {f.source.name}: {len(f.source.variants)} variants"


def report_text(f: Frontier, slo: Slo | None, bests: list[Best], plots: bool = True) -> str:
    """The whole frontier in the terminal: variants, each frontier (and its plot), best per SLO, left off."""
    priced = f.gpu_hour_cost is not None
    out = [sweep_heading(f), render_table(variant_rows(f)), ""]
    for front in shown_frontiers(f):
        out += [frontier_heading(front), render_table(frontier_rows(front, priced)), ""]
        if plots:
            out += [plot_text(f, front.axis, front.seq), ""]
    if slo is not None:
        out += [f"best variant per ISL/OSL meeting {slo.describe()}:", render_table(slo_rows(bests, slo, priced)), ""]
    out += cost_lines(f) + left_off_lines(f)
    return "\n".join(out).rstrip()
