"""The report's Steady state section: per cell, the window in which the load held its target
(engine.report.steady) and its output throughput, TTFT and TPOT beside the whole cell's. Shown
only where some cell has a window (a climbing rate's or a trace's cells have none)."""

from __future__ import annotations

from engine.report.model import SHORT_STEADY_STATE, CellResult
from engine.report.registry import METRICS
from engine.share.markup import caption, flag_codes, table

# (whole-cell metric, its steady-state twin): the same figure over the two spans.
PAIRS = [
    ("output_throughput", "steady_output_throughput"),
    ("median_ttft_ms", "steady_median_ttft_ms"),
    ("mean_tpot_ms", "steady_mean_tpot_ms"),
]


def steady_section(cells: list[CellResult]) -> str:
    shown = [c for c in cells if c.steady is not None]
    if not shown:
        return ""
    header = ["cell", "target held", "window (s)", "of the cell", "requests inside"]
    header += [f"{METRICS[whole].label}: cell / steady" for whole, _ in PAIRS] + ["flag"]
    rows = []
    for c in shown:
        s = c.steady
        span = f"{s.start_s:.1f} - {s.end_s:.1f}" if s.start_s is not None and s.end_s is not None else "never held"
        row = [c.label, s.target, span, f"{s.share:.0%}", f"{s.requests:,}"]
        row += [f"{METRICS[whole].text(c)} / {METRICS[steady].text(c)}" for whole, steady in PAIRS]
        rows.append([*row, flag_codes(c, (SHORT_STEADY_STATE,))])
    note = (
        "The window runs, for a closed loop, from the moment all its slots were busy to the moment the last "
        "slot found no request left; for a rate, from the moment the in-flight count reached its median over "
        "the sends to the last send on schedule. Seconds from the cell's first send. Steady TTFT and TPOT are "
        "over the requests that ran wholly inside the window; its throughput places each request's tokens "
        "evenly between its first token and its end. A window under half the cell is flagged "
        "short_steady_state: give more prompts per concurrency."
    )
    classes = ["flagged" if flag_codes(c, (SHORT_STEADY_STATE,)) else "" for c in shown]
    return "<h3>Steady state</h3>" + table(header, rows, text_columns=(0, 1, 8), row_classes=classes) + caption(note)
