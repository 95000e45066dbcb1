"""Headless presentation: progress lines on stderr, the summary table and curve on stdout."""

from __future__ import annotations

import re
import sys
from typing import TextIO

from engine.events import (
    CellFinished,
    CellStarted,
    Event,
    LoadProgress,
    Notice,
    PhaseChanged,
    RunFinished,
    ServerWaiting,
    SweepProgress,
    VariantFinished,
)
from engine.plan import conversations, per_request
from engine.report import curves
from engine.report.model import CellResult
from engine.report.registry import METRICS
from engine.report.table import summary_table
from engine.report.worker_health import workers_line
from engine.sweep.progress import progress_line

DONE_LINE = [METRICS[k] for k in ("output_throughput", "median_ttft_ms", "mean_tpot_ms", "mean_e2el_ms")]
__all__ = ["ConsoleObserver", "curve", "summary_table"]


class ConsoleObserver:
    """Prints progress to stderr: at most one progress line every `interval_s` per kind."""

    def __init__(self, stream: TextIO = sys.stderr, interval_s: float = 2.0):
        self.out = stream
        self.interval_s = interval_s
        self._last_print = 0.0
        self._started: float | None = None  # when the first event happened (a replay shows its own times)
        self._at = 0.0
        self._last_wait_print = -10.0

    def _print(self, text: str) -> None:
        try:
            print(f"[{self._at - self._started:7.1f}s] {text}", file=self.out, flush=True)
        except OSError:
            pass  # the terminal is gone (SIGHUP): the run and its files matter, not this line

    def _throttled(self) -> bool:
        now = self._at
        if now - self._last_print < self.interval_s:
            return True
        self._last_print = now
        return False

    def __call__(self, event: Event) -> None:
        self._at = event.at
        if self._started is None:
            self._started = event.at
        if isinstance(event, PhaseChanged):
            if event.phase in ("launching", "waiting", "discovering", "stopping", "failed", "interrupted"):
                self._print(f"{event.phase}: {event.detail}" if event.detail else event.phase)
            elif event.phase == "warmup" and event.cell is not None:
                self._print(f"  warm-up: {event.detail}")
        elif isinstance(event, ServerWaiting):
            if event.elapsed_s - self._last_wait_print >= 5.0:
                self._last_wait_print = event.elapsed_s
                waited = f"{event.elapsed_s:.0f}/{event.timeout_s:.0f} s"
                self._print(f"waiting for the server: {waited} | {event.last_log_line[-120:]}")
        elif isinstance(event, Notice):
            self._print(f"{event.level}: {event.message}" if event.level != "info" else event.message)
        elif isinstance(event, CellStarted):
            c = event.cell
            lengths = f"{c.seq}{per_request(c)}" if c.dataset else f"ISL/OSL {c.input_len}/{c.output_len}"
            of = f"/{event.total_cells}" if event.total_cells else " (search probe)"
            rnd = f" (round {event.round + 1}/{event.rounds})" if event.rounds else ""
            self._print(f"cell {c.index + 1}{of}{rnd}: {c.pace}, {lengths}, {c.num_prompts} requests{conversations(c)}")
        elif isinstance(event, LoadProgress):
            if not self._throttled():
                self._print(
                    f"  {event.done + event.failed}/{event.total} done ({event.failed} failed), "
                    f"{event.in_flight} in flight, {event.live_output_tps:,.0f} output tok/s"
                    + (
                        f", client CPU wait {event.client_wait_share:.0%}"
                        if event.client_wait_share is not None
                        else ""
                    )
                )
        elif isinstance(event, CellFinished):
            r = event.result
            figures = ", ".join(f"{m.label} {m.cell_text(r)}" for m in DONE_LINE)
            self._print(
                f"  done: {r.completed} ok, {r.failed} failed, {figures}{hardware_note(r)}"
                + (" [flagged]" if r.flags else "")
            )
            if (d := r.dataset) is not None:
                self._print(
                    f"  lengths per request: input {d.input_len_min}-{d.input_len_max} (mean {d.input_len_mean:.1f}), "
                    f"output {d.output_len_min}-{d.output_len_max} (mean {d.output_len_mean:.1f}); "
                    f"{r.input_len_mismatches} input and {r.output_len_mismatches} output mismatches"
                )
            if line := workers_line(r):  # several load workers: the worst one, then each one
                self._print(f"  {line}")
            if r.turns:
                self._print("  per turn: " + turns_line(r))
        elif isinstance(event, SweepProgress):
            self._print(progress_line(event))
        elif isinstance(event, VariantFinished):
            self._print(f"variant {event.name}: {event.status}" + (f": {event.error}" if event.error else ""))
        elif isinstance(event, RunFinished):
            self._print(event.headline())


def turns_line(r: CellResult) -> str:
    """'1 (in 128): TTFT p50 12.0 ms | 2 (in 288): 19.5 ms | ...': how TTFT grows with the context."""
    parts = []
    for t in r.turns or []:
        ttft = f"{t.median_ttft_ms:,.1f} ms" if t.median_ttft_ms is not None else "n/a"
        failed = f", {t.failed} failed" if t.failed else ""
        parts.append(f"{t.turn} (in {t.input_len}): {'TTFT p50 ' if not parts else ''}{ttft}{failed}")
    return " | ".join(parts)


def hardware_note(r: CellResult) -> str:
    """Energy where it was measured, else the launched server's CPU use; '' when neither was read."""
    t = r.telemetry
    if t is None:
        return ""
    if t.energy_j is not None:
        per_token = f", {METRICS['output_tokens_per_joule'].text(r)} out tok/J" if t.output_tokens_per_joule else ""
        mean = f" (mean {t.power_mean_w:,.0f} W)" if t.power_mean_w is not None else ""
        return f", energy {t.energy_j:,.0f} J{mean}{per_token}"
    tree = next((d for d in t.devices if d.source == "process"), None)
    if tree is not None and tree.cpu_percent_mean is not None:
        rss = f", RSS {tree.rss_max_mib / 1024:.1f} GiB" if tree.rss_max_mib is not None else ""
        return f", server CPU {tree.cpu_percent_mean:.0f}%{rss}"
    return ""


def curve(cells: list[CellResult], width: int = 100, height: int = 24) -> str:
    """Total throughput vs mean E2E latency, one series per ISL/OSL, points labelled by concurrency."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    curves.draw(plt, cells, "latency")
    title = curves.view("latency").title
    # plotext colours its output even with the "clear" theme: stdout may be a file or a pipe.
    return title + "\n" + re.sub(r"\x1b\[[0-9;]*m", "", plt.build())
