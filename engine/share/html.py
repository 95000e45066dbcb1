"""A self-contained HTML report of one or more runs, to share: it opens offline in any browser.

Per run: the summary table (flagged cells carry their reasons in the row), the steady state of
its cells, the curves as inline SVG, the flags and warnings, the environment and the profile that
produced it. Where the run has them: its workload beyond a concurrency grid (rates, goodput, a
search, datasets, turns), the server's and the hardware's telemetry, and the load workers' health;
a plain grid's report shows none of these sections. With two or more runs the comparison comes
first, as `compare` computes it (each run relative to the last one).
No JavaScript, no external asset; every text that came from a file or a flag is escaped.
"""

from __future__ import annotations

import time
from typing import Any

from engine.compare.ratios import Comparison, against_last, fmt_ratio, summary_sentence, table_rows
from engine.compare.render import counted_lines, iso_sets, left_out_lines, stats_lines
from engine.compare.sources import Run
from engine.report.curves import VIEWS, Series, series, view
from engine.report.model import CellResult
from engine.report.registry import Table, columns
from engine.report.table import FLAG_HEADER
from engine.share.markup import e
from engine.share.steady_html import steady_section
from engine.share.svg import chart
from engine.share.telemetry_html import telemetry_section
from engine.share.workers_html import workers_meta, workers_section
from engine.share.workload_html import workload_section

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1f;
       margin: 0 auto; max-width: 1280px; padding: 16px 28px 48px; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 20px; margin-top: 36px; border-bottom: 2px solid #ddd; }
h3 { font-size: 16px; margin: 22px 0 8px; }
.meta, .muted { color: #555; }
.summary { font-size: 16px; background: #eef5fb; border-left: 4px solid #0072B2; padding: 10px 14px; }
.warnings { background: #fff4e5; border-left: 4px solid #D55E00; padding: 8px 14px 8px 30px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { border: 1px solid #d6d6d6; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
td.flag { text-align: left; white-space: normal; min-width: 240px; color: #b00020; }
td.wrap { white-space: normal; min-width: 220px; max-width: 520px; }
tr.flagged td { background: #fff0f0; } tr.marked td { font-weight: 600; }
td.code { color: #b00020; } table.detail th { white-space: normal; vertical-align: bottom; }
h4 { font-size: 14px; margin: 16px 0 6px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.charts svg { border: 1px solid #e0e0e0; max-width: 100%; height: auto; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
dl.env dt { font-weight: 600; } dl.env dd { margin: 0; font-family: ui-monospace, Menlo, Consolas, monospace;
       font-size: 12px; word-break: break-all; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 10px; font-size: 12px; overflow-x: auto; }
nav a { margin-right: 14px; }
"""

RUN_FIELDS = ("profile", "hardware", "accelerator", "devices", "model_profile", "recipe", "mode", "status")
RUN_FIELDS += ("started_at", "finished_at", "host", "tool")
ENV_FIELDS = ("launch_command", "endpoint", "server", "isolation", "lengths")


def _table(rows: list[list[str]]) -> str:
    """An HTML table from rows of plain text (header first); the first column is text, the others figures."""

    def row(tag: str, values: list[str]) -> str:
        return (
            "<tr>"
            + "".join(f"<{tag}{' class=text' if i == 0 else ''}>{e(v)}</{tag}>" for i, v in enumerate(values))
            + "</tr>"
        )

    body = "".join(row("td", r) for r in rows[1:])
    return f"<div class=scroll><table><thead>{row('th', rows[0])}</thead><tbody>{body}</tbody></table></div>"


def cells_table(cells: list[CellResult]) -> str:
    """The run's summary table (the console's columns, with its rate and goodput columns where a cell
    has them); a flagged row ends with each flag and its reason."""
    shown = columns(Table.CONSOLE, cells)
    head = "".join(f"<th>{e(m.label)}</th>" for m in shown) + f"<th class=text>{FLAG_HEADER}</th>"
    rows = []
    for c in cells:
        values = "".join(f"<td>{e(m.cell_text(c))}</td>" for m in shown)
        reasons = "<br>".join(f"! <b>{e(f.code)}</b>: {e(f.reason)}" for f in c.flags)
        cls = " class=flagged" if c.flags else ""
        rows.append(f"<tr{cls}>{values}<td class=flag>{reasons}</td></tr>")
    caption = "latencies in ms; E2E is the mean; n/a: cannot be measured (see the flag column)"
    return (
        f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f"<p class=muted>{caption}</p>"
    )


def run_charts(run: Run) -> list[str]:
    """The SVG of every view that has a point to draw."""
    out = []
    for v in VIEWS:
        drawn = series(run.cells, v.name)
        if any(s.xs for s in drawn):
            out.append(chart(drawn, v, title=f"{v.title} — {run.name}"))
    return out


def overlay_series(runs: list[Run], view_name: str = "latency") -> list[Series]:
    """Every run's curves of one view in one chart: a series (marker and colour) per run and ISL/OSL."""
    out = []
    for run in runs:
        for s in series(run.cells, view_name):
            s.label = f"{run.name} {s.label}"
            out.append(s)
    return out


def warnings(run: Run) -> list[str]:
    out = []
    summary = run.summary
    if summary and summary.status != "completed":
        out.append(f"status {summary.status}" + (f": {summary.error}" if summary.error else ""))
    elif summary and summary.error:
        out.append(summary.error)
    for skipped in summary.skipped if summary else []:
        out.append(f"skipped: {skipped}")
    out += run.notes
    if not run.cells:
        out.append("no cell finished: nothing to tabulate or plot")
    flagged = [c for c in run.cells if c.flags]
    if flagged:
        out.append(f"{len(flagged)} of {len(run.cells)} cells flagged (reasons in the table's flag column)")
    return out


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return "\n".join(f"{k}: {_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "; ".join(_value(x) for x in v)
    return str(v)


def environment(run: Run) -> str:
    if run.summary is None:
        return (
            f"<p class=muted>{e(run.path)}: a <code>vllm bench serve --save-result</code> file; it records no "
            "server environment or profile.</p>"
        )
    items = [(k, getattr(run.summary, k)) for k in ENV_FIELDS]
    rows = "".join(
        f"<dt>{e(k)}</dt><dd>{e(_value(v)).replace(chr(10), '<br>')}</dd>" for k, v in items if v not in (None, {})
    )
    return f"<dl class=env>{rows}</dl>"


def profile_text(run: Run) -> str:
    path = run.path / "profile.toml" if run.summary is not None else None
    if path is None or not path.is_file():
        return "<p class=muted>no profile.toml with this run</p>"
    try:
        text = path.read_text()
    except OSError as exc:
        return f"<p class=muted>{e(path)}: cannot read it: {e(exc)}</p>"
    return f"<details open><summary>{e(path)} (replay it with --profile)</summary><pre>{e(text)}</pre></details>"


def run_section(i: int, run: Run) -> str:
    summary = run.summary
    meta = [("source", str(run.path))]
    if summary:
        meta += [(k, str(getattr(summary, k))) for k in RUN_FIELDS if getattr(summary, k) not in (None, "")]
        if workers := workers_meta(summary.workers):
            meta.append(("load workers", workers))
    meta_rows = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in meta)
    notes = warnings(run)
    warn = f"<ul class=warnings>{''.join(f'<li>{e(n)}</li>' for n in notes)}</ul>" if notes else ""
    charts = "".join(run_charts(run))
    return (
        f"<section id='run-{i}'><h2>{e(run.name)}</h2><dl class=env>{meta_rows}</dl>{warn}"
        f"<h3>Cells</h3>{cells_table(run.cells) if run.cells else ''}{steady_section(run.cells)}"
        f"{workload_section(run.cells, summary.search if summary else [])}"
        f"<h3>Curves</h3><div class=charts>{charts}</div>"
        f"{telemetry_section(run.cells, summary, run.path, run.name)}"
        f"{workers_section(run.cells, summary.workers if summary else None)}"
        f"<h3>Environment</h3>{environment(run)}<h3>Profile</h3>{profile_text(run)}</section>"
    )


def comparison_section(c: Comparison, targets: list[float] | None) -> str:
    parts = [f"<h3>{e(c.a.name)} vs {e(c.b.name)}</h3>", f"<p class=summary>{e(summary_sentence(c))}</p>"]
    parts.append(
        f"<p class=muted>Ratios {e(c.a.name)} / {e(c.b.name)}: throughput above 1x means {e(c.a.name)} leads; "
        f"a latency above 1x means {e(c.a.name)} is slower.</p>"
    )
    if c.cells:
        parts.append(_table(table_rows(c)))
    lines = stats_lines(c)
    if lines:
        parts.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>")
    for v, points in iso_sets(c, targets):
        rows = [["ISL/OSL", f"at ({v.unit})", c.a.name, c.b.name, "ratio"]]
        rows += [[p.seq, v.at(p), f"{p.a:,.0f}", f"{p.b:,.0f}", fmt_ratio(p.ratio)] for p in points]
        parts.append(f"<h4>{e(v.heading[:1].upper() + v.heading[1:])}</h4>{_table(rows)}")
    left = counted_lines(c) + left_out_lines(c)
    if left:
        parts.append("<h4>Cells left out or flagged, notes</h4><ul class=warnings>")
        parts.append("".join(f"<li>{e(x)}</li>" for x in left) + "</ul>")
    return "".join(parts)


def render(runs: list[Run], targets: list[float] | None = None, count_flagged: frozenset[str] = frozenset()) -> str:
    """The whole report as one HTML document."""
    names = ", ".join(r.name for r in runs)
    body = [
        "<h1>llmbench-tui report</h1>",
        f"<p class=meta>{len(runs)} run{'s' if len(runs) > 1 else ''}: {e(names)}; "
        f"generated {e(time.strftime('%Y-%m-%d %H:%M:%S %z'))}</p>",
        "<nav>"
        + ("<a href='#comparison'>comparison</a>" if len(runs) > 1 else "")
        + "".join(f"<a href='#run-{i}'>{e(r.name)}</a>" for i, r in enumerate(runs))
        + "</nav>",
    ]
    if len(runs) > 1:
        body.append(f"<section id=comparison><h2>Comparison (each run relative to {e(runs[-1].name)})</h2>")
        body += [comparison_section(c, targets) for c in against_last(runs, count_flagged)]
        latency = view("latency")
        overlay = chart(overlay_series(runs), latency, title=f"{latency.title} — all runs")
        body.append(f"<h3>Curves of all runs</h3><div class=charts>{overlay}</div></section>")
    body += [run_section(i, r) for i, r in enumerate(runs)]
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>llmbench-tui report: {e(names)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
