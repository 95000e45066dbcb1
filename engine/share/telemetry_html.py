"""The report's Server and hardware section: what the server said about itself and what the
hardware did while each cell ran, and a chart of the run over time from timeseries.jsonl.

A figure not measured is "n/a" with the reason the run recorded (a CPU host has no power sensor,
a server that does not export a metric), never 0. The server's token counters are set beside our
own: a disagreement (another client on the server?) flags the cell server_mismatch.
"""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

from engine.report.curves import Series, View
from engine.report.model import SERVER_MISMATCH, CellResult, DeviceCellStats, RunSummary
from engine.report.registry import METRICS
from engine.share.counters_html import cache_table, spec_table
from engine.share.markup import NA, caption, e, flag_codes, mean_max, na, table
from engine.share.svg import chart

TIMESERIES = "timeseries.jsonl"
GAP_S = 10.0  # samples further apart than this (or 5 steps) leave a gap in the chart
MAX_POINTS = 300  # the chart's resolution: a long run's samples are grouped into this many steps
OVER_TIME = View(
    "timeseries",
    "Output tok/s and KV-cache use over the run",
    "seconds since the first sample",
    "output tok/s (server's counter)",
    "KV-cache use (%)",
)

# Per device, the readings worth a column, shown only where some device reports them.
DEVICE_COLUMNS: list[tuple[str, str, str]] = [
    ("utilization %, mean / max", "utilization_mean", "utilization_max"),
    ("power W, mean / max", "power_mean_w", "power_max_w"),
    ("server CPU % of a core, mean / max", "cpu_percent_mean", "cpu_percent_max"),
]
DEVICE_SINGLE: list[tuple[str, str, str]] = [
    ("memory max (GiB)", "memory_used_max_mib", "gib"),
    ("RSS max (GiB)", "rss_max_mib", "gib"),
    ("temp max (°C)", "temperature_max_c", "{:.0f}"),
    ("clock mean (MHz)", "clock_mean_mhz", "{:,.0f}"),
]


def _single(d: DeviceCellStats, key: str, fmt: str) -> str:
    value = getattr(d, key)
    return na(value / 1024 if value is not None else None, "{:,.1f}") if fmt == "gib" else na(value, fmt)


def _check(token_check: str | None) -> str:
    """The counter check in a word where it matched (the counts stand beside it); its whole sentence
    where it did not, or could not, check."""
    if token_check is None:
        return NA
    return "match" if token_check.startswith("match") else token_check


def sources(summary: RunSummary | None) -> str:
    """What the run found to read, and why anything was not read (the run's own words)."""
    if summary is None or not summary.telemetry:
        return ""
    rows = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in summary.telemetry.items())
    return f"<dl class=env>{rows}</dl>"


def server_table(cells: list[CellResult], summary: RunSummary | None) -> str:
    if not any(c.server is not None for c in cells):
        return ""
    header = ["cell", "samples", "running", "waiting", "KV cache", "preemptions"]
    header += ["prompt tokens server / ours", "output tokens server / ours", "counter check", "flag"]
    rows = []
    for c in cells:
        s = c.server
        if s is None:
            rows.append([c.label, "0"] + [NA] * 6 + ["no /metrics readings in this cell", ""])
            continue
        kv = mean_max(
            s.kv_cache_usage_mean * 100 if s.kv_cache_usage_mean is not None else None,
            s.kv_cache_usage_max * 100 if s.kv_cache_usage_max is not None else None,
            "{:.1f}%",
        )
        rows.append(
            [
                c.label,
                f"0 ({s.gauges_note})" if s.gauges_note else str(s.samples),
                mean_max(s.running_mean, s.running_max),
                mean_max(s.waiting_mean, s.waiting_max),
                kv,
                na(s.preemptions, "{:,d}"),
                f"{na(s.prompt_tokens, '{:,d}')} / {c.total_input_tokens:,}",
                f"{na(s.generation_tokens, '{:,d}')} / {c.total_output_tokens:,}",
                _check(s.token_check),
                flag_codes(c, (SERVER_MISMATCH,)),
            ]
        )
    why = (summary.telemetry or {}).get("server_metrics") if summary else None
    note = (
        "From the server's Prometheus /metrics, about once a second: running, waiting and KV cache are mean / max "
        "over the measured window, counters deltas over the measured requests (read once the server was idle), "
        "beside our own counts. n/a: the server does not export "
        "that metric" + (f" (this run: {why})" if why else "") + ". A counter that disagrees with our counts flags "
        "the cell server_mismatch."
    )
    classes = ["flagged" if flag_codes(c, (SERVER_MISMATCH,)) else "" for c in cells]
    return (
        "<h4>Server</h4>"
        + table(header, rows, wrap_columns=(8,), text_columns=(0, 8, 9), row_classes=classes)
        + caption(note)
    )


def devices_table(cells: list[CellResult]) -> str:
    pairs = [(c, d) for c in cells if c.telemetry is not None for d in c.telemetry.devices]
    if not pairs:
        return ""
    ranged = [col for col in DEVICE_COLUMNS if any(getattr(d, col[1]) is not None for _, d in pairs)]
    single = [col for col in DEVICE_SINGLE if any(getattr(d, col[1]) is not None for _, d in pairs)]
    header = ["cell", "device", "samples"] + [c[0] for c in ranged] + [c[0] for c in single]
    rows = [
        [c.label, f"{d.source} ({d.name})" if d.name else d.source, str(d.samples)]
        + [mean_max(getattr(d, mean), getattr(d, high)) for _, mean, high in ranged]
        + [_single(d, key, fmt) for _, key, fmt in single]
        for c, d in pairs
    ]
    return "<h4>Hardware</h4>" + table(header, rows, text_columns=(0, 1))


def energy_table(cells: list[CellResult]) -> str:
    """Energy and tokens per joule per cell; where no cell measured them, one line with the reason."""
    measured = [c for c in cells if c.telemetry is not None]
    if not measured:
        return ""
    notes = {c.telemetry.energy_note for c in measured if c.energy_j is None}
    if all(c.energy_j is None for c in measured) and len(notes) == 1:
        why = notes.pop() or "no power reading"
        return f"<p>Energy and tokens per joule: n/a in every cell. Why, as the run recorded it: {e(why)}</p>"
    energy, per_joule = METRICS["energy_j"], METRICS["output_tokens_per_joule"]
    header = ["cell", "power mean (W)", f"{energy.label} ({energy.unit})", f"out {per_joule.label}", "why n/a"]
    rows = [
        [
            c.label,
            na(c.telemetry.power_mean_w, "{:,.0f}"),
            energy.text(c),
            per_joule.text(c),
            (c.telemetry.energy_note or "") if c.energy_j is None else "",
        ]
        for c in measured
    ]
    return (
        "<h4>Energy</h4>"
        + table(header, rows, text_columns=(0, 4), wrap_columns=(4,))
        + caption("Power integrated over the measured window (trapezoids), summed over the devices that measure it.")
    )


def _number(value: object) -> float | None:
    """A reading as a float; None for anything else (a hand-edited or foreign file must not stop the report)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def over_time(path: Path | None) -> tuple[list[Series], str | None]:
    """Output tok/s (from the server's generation counter) and KV-cache use over the run, from
    timeseries.jsonl; ([], why) when there is nothing to draw."""
    if path is None or not (path / TIMESERIES).is_file():
        return [], f"no {TIMESERIES} with this run"
    samples: list[tuple[float, float | None, float | None]] = []
    try:
        with open(path / TIMESERIES) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: the rest still draws
                if (
                    not isinstance(row, dict)
                    or row.get("source") != "server"
                    or not isinstance(row.get("values"), dict)
                ):
                    continue
                v, t = row["values"], _number(row.get("t"))
                if t is not None:
                    samples.append((t, _number(v.get("generation_tokens_total")), _number(v.get("kv_cache_usage"))))
    except OSError as exc:
        return [], f"{path / TIMESERIES}: cannot read it: {exc}"
    if len(samples) < 2:
        return [], f"{TIMESERIES} holds under two server samples"
    samples.sort(key=lambda s: s[0])
    t0 = samples[0][0]
    # Samples come about once a second, some a few ms apart (taken at a cell's edges): a rate over
    # such a gap is noise, so each point spans at least a second (more on a long run; time with no
    # sample at all, such as the pause before a --resume, does not count).
    gaps = [b[0] - a[0] for a, b in pairwise(samples)]
    step = max(1.0, sum(g for g in gaps if g <= GAP_S) / MAX_POINTS)
    tps, kv = Series("output tok/s", [], [], []), Series("KV-cache use", [], [], [], right_axis=True)
    last_t, last_gen = samples[0][0], samples[0][1]
    for t, gen, usage in samples[1:]:
        if t - last_t < step:
            continue
        if t - last_t > max(GAP_S, 5 * step):
            # No sample for a long while (a resumed run, a sampler that stalled): a break in the
            # lines, not a straight segment drawn across time nobody measured.
            for s in (tps, kv):
                s.xs.append(last_t - t0)
                s.ys.append(math.nan)
            last_t, last_gen = t, gen
            continue
        # A counter that went down (the server restarted) gives no rate for that step.
        if gen is not None and last_gen is not None and gen >= last_gen:
            tps.xs.append(t - t0)
            tps.ys.append((gen - last_gen) / (t - last_t))
        if usage is not None:
            kv.xs.append(t - t0)
            kv.ys.append(100 * usage)
        last_t, last_gen = t, gen
    drawn = [s for s in (tps, kv) if any(y == y for y in s.ys)]  # a gap alone draws nothing
    return drawn, (None if drawn else f"{TIMESERIES}: the server exported neither counter nor KV-cache use")


def telemetry_section(cells: list[CellResult], summary: RunSummary | None, path: Path | None, name: str) -> str:
    """The section, or "" for a run that recorded no telemetry (results from before it existed)."""
    if summary is None or not (summary.telemetry or any(c.server or c.telemetry for c in cells)):
        return ""
    drawn, why = over_time(path)
    timeline = (
        f"<div class=charts>{chart(drawn, OVER_TIME, width=900, height=340, title=f'{OVER_TIME.title} — {name}')}</div>"
        + caption(
            "Every phase, warm-ups and the pauses between cells included; tok/s is the server's generation counter "
            "per second between samples"
            + ("; dashed: KV-cache use, right axis." if any(s.right_axis for s in drawn) else ".")
        )
        if drawn
        else caption(f"No chart over time: {why}.")
    )
    body = sources(summary) + server_table(cells, summary) + cache_table(cells) + spec_table(cells)
    body += devices_table(cells) + energy_table(cells)
    return f"<h3>Server and hardware</h3>{body}{timeline}"
