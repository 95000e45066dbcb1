"""The HTML report of sweeps (`report SWEEP [SWEEP...] --out F.html`): with several, the frontier
comparison first (the seed's sentence, the ratio curve, who leads where, who forms each frontier,
both frontiers in one chart); then per sweep its variants table, each frontier as a chart (every
variant's points in its own marker and colour, the frontier as a line) with its points and their
cost, the best variant per SLO, the cells left off; then each variant's own run, as `report RUN`
shows it. Self-contained like engine.share.html: no JavaScript, every text escaped.
"""

from __future__ import annotations

import math
import time

from engine.report.curves import Series, View
from engine.share.html import CSS, run_section
from engine.share.markup import e, table
from engine.share.svg import chart
from engine.sweep.compare import FrontierComparison
from engine.sweep.compute import AXES, Axis, AxisFrontier, Frontier
from engine.sweep.render import frontier_rows, left_off_lines, slo_rows, variant_rows
from engine.sweep.slo import Slo, best_per_slo
from engine.sweep.words import coverage, forming, lead_words, sentence, table_rows

Y_LABEL = "output tok/s per GPU"
VARIANT_TEXT = (0, 1, 3, 4, 6, 7)  # the variants table's columns of words: name, status, flags, env, yes/no, error


def _view(axis: Axis) -> View:
    return View(axis.name, axis.title, axis.x_label, Y_LABEL)


def frontier_series(front: AxisFrontier, variants: list[str], label: str = "frontier") -> list[Series]:
    """The frontier first (drawn beneath), then each variant's points (x rising): one series each, so
    each has its own marker and colour and the variants' markers stay visible on the frontier's line."""
    xs = [front.xy(p)[0] for p in front.frontier]
    out = [Series(label, xs, [p.output_tok_s_per_gpu for p in front.frontier], ["" for _ in xs])]
    for name in variants:
        mine = sorted((p for p in front.points if p.variant == name), key=lambda p: front.xy(p)[0])
        if mine:
            out.append(_markers_only(name, front, mine))
    return out


def _markers_only(name: str, front: AxisFrontier, points: list) -> Series:
    """A variant's points without a line between them (a gap, NaN, after each: engine.share.svg draws
    no segment across one), so only the frontier is a line."""
    xs, ys, labels = [], [], []
    for p in points:
        x = front.xy(p)[0]
        xs += [x, x]
        ys += [p.output_tok_s_per_gpu, math.nan]
        labels += [p.load, ""]
    return Series(name, xs, ys, labels)


def _table(rows: list[list[str]], text_columns: tuple[int, ...] = (0,)) -> str:
    return table(rows[0], rows[1:], text_columns=text_columns)


def _ul(lines: list[str], cls: str = "") -> str:
    if not lines:
        return ""
    return f"<ul{f' class={cls}' if cls else ''}>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>"


def comparison_section(fc: FrontierComparison) -> str:
    parts = [f"<h3>{e(fc.name_a)} vs {e(fc.name_b)}</h3>"]
    parts += [f"<p class=summary>{e(sentence(c, fc.name_a, fc.name_b))}</p>" for c in fc.axes if c.samples]
    for c in fc.axes:
        parts.append(f"<h4>{e(c.axis.title)}, {e(c.seq)}</h4>")
        if c.samples:
            parts.append(_table(table_rows(c, fc.name_a, fc.name_b)))
            parts.append(
                _ul(
                    [
                        f"lead: {lead_words(c)}",
                        f"{fc.name_a}'s frontier there: {forming(c.forming_a, c)}",
                        f"{fc.name_b}'s frontier there: {forming(c.forming_b, c)}",
                    ]
                )
            )
        parts.append(_ul(coverage(c, fc.name_a, fc.name_b), "warnings"))
        both = [fc.a.on(c.axis, c.seq), fc.b.on(c.axis, c.seq)]
        series = [
            Series(name, *(_curve(front)), ["" for _ in front.frontier])
            for name, front in zip((fc.name_a, fc.name_b), both)
            if front is not None and front.frontier
        ]
        if series:
            title = f"frontiers, {c.seq}"
            parts.append(f"<div class=charts>{chart(series, _view(c.axis), title=title)}</div>")
    return "".join(parts)


def _curve(front: AxisFrontier) -> tuple[list[float], list[float]]:
    return [front.xy(p)[0] for p in front.frontier], [p.output_tok_s_per_gpu for p in front.frontier]


def sweep_section(i: int, f: Frontier, slo: Slo | None) -> str:
    priced = f.gpu_hour_cost is not None
    variants = [v.name for v in f.source.variants]
    kind = "sweep" if f.source.sweep else "run (one variant)"
    parts = [
        f"<section id='sweep-{i}'><h2>{e(f.source.name)}</h2>",
        f"<p class=meta>{e(kind)}: {e(f.source.path)}; {len(variants)} variant{'s' if len(variants) != 1 else ''}</p>",
        "<h3>Variants</h3>",
        _table(variant_rows(f), text_columns=VARIANT_TEXT),
    ]
    for axis in AXES:
        for seq in f.seqs():
            front = f.on(axis, seq)
            if front is None or not front.frontier:
                continue
            title = f"{f.source.name}, {seq}"
            parts.append(f"<h3>{e(axis.title)}, {e(seq)}</h3>")
            parts.append(f"<div class=charts>{chart(frontier_series(front, variants), _view(axis), title=title)}</div>")
            parts.append(_table(frontier_rows(front, priced)))
    if slo is not None:
        parts.append(f"<h3>Best variant per ISL/OSL meeting {e(slo.describe())}</h3>")
        parts.append(_table(slo_rows(best_per_slo(f, slo), slo, priced)))
    if priced:
        parts.append(
            f"<p class=muted>cost per million output tokens at {f.gpu_hour_cost:g} per GPU-hour, in the "
            "currency the hardware profile was priced in</p>"
        )
    else:
        parts.append("<p class=muted>no gpu_hour_cost in the hardware profile: no cost figure</p>")
    parts.append(_ul(left_off_lines(f), "warnings"))
    return "".join(parts) + "</section>"


def render_frontiers(frontiers: list[Frontier], comparisons: list[FrontierComparison], slo: Slo | None) -> str:
    names = ", ".join(f.source.name for f in frontiers)
    body = [
        "<h1>llmbench-tui sweep report</h1>",
        f"<p class=meta>{e(names)}; generated {e(time.strftime('%Y-%m-%d %H:%M:%S %z'))}</p>",
    ]
    if comparisons:
        body.append(
            f"<section id=comparison><h2>Frontiers compared (each relative to {e(frontiers[-1].source.name)})</h2>"
        )
        body += [comparison_section(fc) for fc in comparisons]
        body.append("</section>")
    body += [sweep_section(i, f, slo) for i, f in enumerate(frontiers)]
    runs = [r for f in frontiers for r in f.source.runs]
    body += [run_section(i, r) for i, r in enumerate(runs)]
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>llmbench-tui sweep report: {e(names)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
