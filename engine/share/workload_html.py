"""The report's Workload section: what a run asked of the server beyond a fixed concurrency grid.

Rate cells (how their requests were sent against the plan), a load shape's own tables, goodput
under the SLOs, what a search found and how, the realised lengths of dataset cells, and a multi-turn cell's
figures per turn. Each part appears only where a cell has it, so a plain concurrency grid's report
has no Workload section at all. Labels are the ones of engine.report.registry.METRICS, so the page,
the console and the TUI name a figure alike.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from engine.report.model import CLIENT_LIMIT, CLIENT_STARVED, LENGTH_MISMATCH, CellResult
from engine.report.registry import METRICS
from engine.report.run_notes import SearchFound
from engine.shapes.registry import sections
from engine.share.markup import NA, caption, e, flag_codes, na, table

CLIENT_CODES = (CLIENT_LIMIT, CLIENT_STARVED)
# Per turn, the figures whose growth with the conversation's history matters (Metric labels).
TURN_METRICS = [METRICS[k] for k in ("median_ttft_ms", "p99_ttft_ms", "mean_e2el_ms")]


def _turns(cell: CellResult) -> list[Any]:
    """A multi-turn cell's per-turn figures; [] for other cells and for results written before
    cells had `turns` (another branch adds the field: read it without requiring it)."""
    turns = getattr(cell, "turns", None) or []
    return [SimpleNamespace(**t) if isinstance(t, dict) else t for t in turns]


def _flag_rows(cells: list[CellResult], codes: tuple[str, ...]) -> list[str]:
    return ["flagged" if flag_codes(c, codes) else "" for c in cells]


def rates(cells: list[CellResult]) -> str:
    rated = [c for c in cells if c.open_loop is not None]
    if not rated:
        return ""
    # Peak in flight is recorded by later versions only: a column only where some cell has it.
    peaks = [getattr(c.open_loop, "peak_in_flight", None) for c in rated]
    header = ["cell", METRICS["request_rate"].label, METRICS["achieved_rate"].label, "sent / rate", "arrival"]
    with_peak = any(p is not None for p in peaks)
    header += ["cap in flight"] + (["peak in flight"] if with_peak else [])
    header += ["send late p99 (ms)", "flag"]
    rows = []
    for c, peak in zip(rated, peaks):
        o = c.open_loop
        share = f"{o.achieved_rate / o.request_rate:.0%}" if o.achieved_rate is not None and o.request_rate else NA
        arrival = o.arrival + (f", burstiness {o.burstiness:g}" if o.burstiness != 1 else "")
        row = [c.label, METRICS["request_rate"].text(c), METRICS["achieved_rate"].text(c), share, arrival]
        row += [str(o.max_in_flight) if o.max_in_flight else "none"]
        row += [na(peak, "{:d}")] if with_peak else []
        row += [na(c.client_send_delay_p99_ms), flag_codes(c, CLIENT_CODES)]
        rows.append(row)
    note = (
        "Rates in req/s. A rate cell sends each request at a time planned before the cell: sent/s under "
        "the rate, or sends late by more than a quarter of the ITL (flagged client_limit, reasons in the "
        "cells table), mean the client or the cap, not the server, set the pace. sent/s is over the span "
        "of the sends (n/a under two); a trace's rate is its own mean."
    )
    return (
        "<h4>Request rates</h4>"
        + table(header, rows, text_columns=(0, 4), row_classes=_flag_rows(rated, CLIENT_CODES))
        + caption(note)
    )


def shapes(cells: list[CellResult]) -> str:
    """Each load shape's own table (engine/shapes), where some cell has one."""
    return "".join(
        f"<h4>{s.title}</h4>" + table(s.header, s.rows, text_columns=s.text_columns) + caption(s.note)
        for s in sections(cells)
    )


def goodput(cells: list[CellResult]) -> str:
    judged = [c for c in cells if c.goodput is not None]
    if not judged:
        return ""
    header = ["cell", "SLOs (ms)", "good / completed", METRICS["request_goodput"].label, "of req/s"]
    rows = []
    for c in judged:
        g = c.goodput
        slos = ", ".join(f"{k} ≤ {v:g}" for k, v in g.slo_ms.items())
        share = (
            f"{g.request_goodput / c.request_throughput:.0%}"
            if g.request_goodput is not None and c.request_throughput
            else NA
        )
        rows.append([c.label, slos, f"{g.good} / {c.completed}", METRICS["request_goodput"].text(c), share])
    note = (
        "Goodput as vllm bench serve defines it: requests per second that completed within every SLO "
        "(a one-token answer has no TPOT to hold against a limit); n/a where the cell has no duration."
    )
    return "<h4>Goodput</h4>" + table(header, rows, text_columns=(0, 1)) + caption(note)


def _level(kind: str, level: float) -> str:
    return f"concurrency {int(level)}" if kind == "concurrency" else f"{level:g} req/s"


def search(found: list[SearchFound]) -> str:
    """Per ISL/OSL: the computed sentence (best level and why the search stopped), then every probe."""
    if not found:
        return ""
    parts = ["<h4>Search</h4>"]
    for s in found:
        parts.append(f"<p class=summary>{e(s.sentence)}</p>")
        rows, classes = [], []
        for n, p in enumerate(s.probes, 1):
            rows.append(
                [str(n), _level(s.kind, p.level), p.cell, "meets the SLOs" if not p.miss else f"misses: {p.miss}"]
            )
            classes.append("marked" if s.best is not None and p.level == s.best and not p.miss else "")
        if rows:
            parts.append(
                table(
                    ["probe", "load", "cell", "result"],
                    rows,
                    text_columns=(1, 2, 3),
                    wrap_columns=(3,),
                    row_classes=classes,
                )
            )
        parts.append(
            caption(
                f"{s.seq}: best {_level(s.kind, s.best) if s.best is not None else 'none'} (in bold) at "
                f"percentile {s.percentile}; stopped: {s.stopped or 'not recorded'}. Each probe is a cell of "
                "the tables above, with its flags."
            )
        )
    return "".join(parts)


def datasets(cells: list[CellResult]) -> str:
    shaped = [c for c in cells if c.dataset is not None]
    if not shaped:
        return ""
    # The cell's label already names the prompts (the dataset's label): the file is what it adds.
    header = ["cell", "source", "input tokens: mean (min-max)", "output tokens: mean (min-max)"]
    header += ["length mismatches in / out", "flag"]
    rows = []
    for c in shaped:
        d = c.dataset
        rows.append(
            [
                c.label,
                d.source or "generated",
                f"{d.input_len_mean:,.1f} ({d.input_len_min:,}-{d.input_len_max:,})",
                f"{d.output_len_mean:,.1f} ({d.output_len_min:,}-{d.output_len_max:,})",
                f"{c.input_len_mismatches} / {c.output_len_mismatches}",
                flag_codes(c, (LENGTH_MISMATCH,)),
            ]
        )
    note = (
        "Lengths each request was given, over the cell's requests; each was checked against the server's "
        "usage report: input mismatches are counted, an output mismatch flags the cell length_mismatch."
    )
    return (
        "<h4>Datasets and traces</h4>"
        + table(header, rows, text_columns=(0, 1), row_classes=_flag_rows(shaped, (LENGTH_MISMATCH,)))
        + caption(note)
    )


def turns(cells: list[CellResult]) -> str:
    parts = []
    for c in cells:
        per_turn = _turns(c)
        if not per_turn:
            continue
        header = ["turn", "ok", "fail", "input tokens"] + [m.label for m in TURN_METRICS]
        rows = [
            [str(t.turn), str(t.completed), str(t.failed), f"{t.input_len:,}"] + [m.text(t) for m in TURN_METRICS]
            for t in per_turn
        ]
        parts.append(f"<h4>Per turn: {e(c.label)}</h4>" + table(header, rows))
    if not parts:
        return ""
    return "".join(parts) + caption(
        "Latencies in ms over each turn's requests; a turn's prompt holds the earlier turns and the answers the "
        "server gave, so TTFT grows with the history."
    )


def workload_section(cells: list[CellResult], found: list[SearchFound]) -> str:
    """The section, or "" for a plain concurrency grid (nothing to add to the cells table)."""
    body = rates(cells) + shapes(cells) + goodput(cells) + search(found) + datasets(cells) + turns(cells)
    return f"<h3>Workload</h3>{body}" if body else ""
