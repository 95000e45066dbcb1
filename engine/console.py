"""Headless presentation: progress lines on stderr, the summary table and curve on stdout."""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

from engine import curves
from engine.events import (
    CellFinished,
    CellStarted,
    Event,
    LoadProgress,
    Notice,
    PhaseChanged,
    RunFinished,
    ServerWaiting,
)


class ConsoleObserver:
    """Prints progress to stderr: at most one progress line every `interval_s` per kind."""

    def __init__(self, stream: TextIO = sys.stderr, interval_s: float = 2.0):
        self.out = stream
        self.interval_s = interval_s
        self._last_print = 0.0
        self._total_cells = 0
        self._started = time.monotonic()
        self._last_wait_print = -10.0

    def _print(self, text: str) -> None:
        print(f"[{time.monotonic() - self._started:7.1f}s] {text}", file=self.out, flush=True)

    def _throttled(self) -> bool:
        now = time.monotonic()
        if now - self._last_print < self.interval_s:
            return True
        self._last_print = now
        return False

    def __call__(self, event: Event) -> None:
        if isinstance(event, PhaseChanged):
            if event.phase in ("launching", "waiting", "discovering", "stopping", "failed", "interrupted"):
                self._print(f"{event.phase}: {event.detail}" if event.detail else event.phase)
            elif event.phase == "warmup" and event.cell is not None:
                self._print(f"  warm-up: {event.detail}")
        elif isinstance(event, ServerWaiting):
            if event.elapsed_s - self._last_wait_print >= 5.0:
                self._last_wait_print = event.elapsed_s
                self._print(f"waiting for the server: {event.elapsed_s:.0f}/{event.timeout_s:.0f} s | {event.last_log_line[-120:]}")
        elif isinstance(event, Notice):
            self._print(f"{event.level}: {event.message}" if event.level != "info" else event.message)
        elif isinstance(event, CellStarted):
            self._total_cells = event.total_cells
            c = event.cell
            self._print(f"cell {c.index + 1}/{event.total_cells}: concurrency {c.concurrency}, ISL/OSL {c.input_len}/{c.output_len}, {c.num_prompts} requests")
        elif isinstance(event, LoadProgress):
            if not self._throttled():
                self._print(
                    f"  {event.done + event.failed}/{event.total} done ({event.failed} failed), {event.in_flight} in flight, "
                    f"{event.live_output_tps:,.0f} output tok/s"
                )
        elif isinstance(event, CellFinished):
            s = event.summary
            self._print(
                f"  done: {s['completed']} ok, {s['failed']} failed, {s['output_throughput']:,.0f} output tok/s, "
                f"TTFT p50 {s['median_ttft_ms']:.1f} ms, TPOT {s['mean_tpot_ms']:.2f} ms, E2E {s['mean_e2el_ms']:.0f} ms"
            )
        elif isinstance(event, RunFinished):
            self._print(f"run {event.status}" + (f": {event.error}" if event.error else ""))


COLUMNS = [
    ("conc", "max_concurrency", "{:d}"),
    ("ISL/OSL", None, ""),
    ("ok", "completed", "{:d}"),
    ("fail", "failed", "{:d}"),
    ("req/s", "request_throughput", "{:.2f}"),
    ("out tok/s", "output_throughput", "{:,.0f}"),
    ("tot tok/s", "total_token_throughput", "{:,.0f}"),
    ("TTFT p50", "median_ttft_ms", "{:.1f}"),
    ("TTFT p99", "p99_ttft_ms", "{:.1f}"),
    ("TPOT", "mean_tpot_ms", "{:.2f}"),
    ("ITL p99", "p99_itl_ms", "{:.2f}"),
    ("E2E", "mean_e2el_ms", "{:,.0f}"),
    ("tok/s/user", "interactivity", "{:.1f}"),
]


def summary_table(cells: list[dict]) -> str:
    """A plain-text table of the cells (latencies in ms)."""
    rows = [[name for name, _, _ in COLUMNS]]
    for c in cells:
        row = []
        for name, key, fmt in COLUMNS:
            row.append(f"{c['input_len']}/{c['output_len']}" if key is None else fmt.format(c[key]))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n(latencies in ms; E2E is the mean)"


def curve(cells: list[dict], width: int = 100, height: int = 24) -> str:
    """Total throughput vs mean E2E latency, one series per ISL/OSL, points labelled by concurrency."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    curves.draw(plt, cells, "latency")
    # plotext colours its output even with the "clear" theme: stdout may be a file or a pipe.
    return re.sub(r"\x1b\[[0-9;]*m", "", plt.build())
