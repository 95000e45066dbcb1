"""Steady state: the part of a cell in which the load held its target, and the figures over it.

Whole-cell figures mix in the climb (slots filling, an open loop's in-flight count climbing)
and the drain (the last requests finishing with fewer beside them). Each load shape has its rule
for when its target was held (RULES, by shape type):

- A closed loop of C: all C slots busy. The window runs from the moment the C-th request was in
  flight to the moment the count last fell below C (a slot found no request left). A slot's
  turnover inside it (a request ends, the slot sends the next) is no gap.
- A fixed rate: sends on schedule, the in-flight count past its climb. The window runs from the
  moment the count first reached its time-weighted median over the sending span to the last send
  made within one mean arrival gap (at most 50 ms) of its plan.
- A climbing rate or a trace has no target to hold: no window, no figures.

Over the window: output throughput, each request's tokens placed on its timeline as TPOT assumes
(the first at its TTFT, the rest evenly to its end: the records keep no per-token times once their
ITLs are handed on); TTFT and TPOT of the completed requests that ran wholly inside it. A window
under half the cell is flagged short_steady_state, with the advice of the shape's rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

from engine.load.record import RequestRecord
from engine.plan import Cell
from engine.report.metrics import latency_stats, tpot
from engine.report.model import SHORT_STEADY_STATE, CellResult, Flag, SteadyState
from engine.report.registry import TPOT, TTFT
from engine.shapes.closed import ClosedLoop
from engine.shapes.rate import Rate

SHORT_SHARE = 0.5  # a window under this share of the cell is flagged
LATE_MAX_S = 0.05  # an open loop's send later than this (or one mean arrival gap) is off schedule

Steps = list[tuple[float, int]]  # the in-flight count after each send or end, in time order


class SteadyRule(Protocol):
    """How one load shape judges that its target was held."""

    advice: str  # what gives a longer window

    def target(self, cell: Cell) -> str: ...

    def window(self, cell: Cell, records: Sequence[RequestRecord], steps: Steps) -> tuple[float, float] | None:
        """The window's (start, end) in epoch seconds, None where the target was never held."""


@dataclass(frozen=True)
class SlotsBusy:
    advice: str = "give more prompts per concurrency (--prompts-per-concurrency) so that most of the cell runs full"

    def target(self, cell: Cell) -> str:
        return f"{cell.concurrency} in flight"

    def window(self, cell: Cell, records: Sequence[RequestRecord], steps: Steps) -> tuple[float, float] | None:
        return held(steps, cell.concurrency)


@dataclass(frozen=True)
class OnSchedule:
    advice: str = (
        "send more requests (--num-prompts) so that the sends outlast the climb to full load; sends late to their plan "
        "mean the client or the cap on requests in flight set the pace"
    )

    def target(self, cell: Cell) -> str:
        return f"{cell.shape.rate:g} req/s on schedule, in flight past its climb"

    def window(self, cell: Cell, records: Sequence[RequestRecord], steps: Steps) -> tuple[float, float] | None:
        sends = sorted(r.start_time for r in records)
        level = max(1, median_level(steps, sends[0], sends[-1]))
        start = next((t for t, n in steps if n >= level), None)
        late_s = min(LATE_MAX_S, 1.0 / cell.shape.rate)
        on_time = [r.start_time for r in records if r.send_delay <= late_s]
        end = max((t for t in on_time if start is not None and t >= start), default=None)
        return None if end is None else (start, end)


RULES: dict[type, SteadyRule] = {ClosedLoop: SlotsBusy(), Rate: OnSchedule()}


def in_flight_steps(records: Sequence[RequestRecord]) -> Steps:
    """Each request counts from its send to its last byte (or its failure); an end before a send
    at the same instant (a slot's turnover)."""
    edges = sorted([(r.start_time, 1) for r in records] + [(r.start_time + (r.e2el or 0.0), -1) for r in records])
    out, n = [], 0
    for t, step in edges:
        n += step
        out.append((t, n))
    return out


def held(steps: Steps, level: int) -> tuple[float, float] | None:
    """From the first moment the count reached `level` to the last moment it fell below it."""
    start = end = None
    prev = 0
    for t, n in steps:
        if start is None and n >= level:
            start = t
        if prev >= level > n:
            end = t
        prev = n
    return None if start is None or end is None else (start, end)


def median_level(steps: Steps, t0: float, t1: float) -> int:
    """The time-weighted median of the in-flight count over [t0, t1]."""
    time_at: dict[int, float] = {}
    for (t, n), (t_next, _) in pairwise(steps):
        span = min(t_next, t1) - max(t, t0)
        if span > 0:
            time_at[n] = time_at.get(n, 0.0) + span
    total, seen = sum(time_at.values()), 0.0
    for n in sorted(time_at):
        seen += time_at[n]
        if seen >= total / 2:
            return n
    return 0


def tokens_within(r: RequestRecord, t0: float, t1: float) -> int:
    """Of a request's output tokens, how many arrived in [t0, t1]: the first at its TTFT, the
    other n - 1 evenly spaced to its end (the last at its end)."""
    if not r.ok or r.ttft is None or r.e2el is None or r.output_tokens < 1:
        return 0
    first = r.start_time + r.ttft
    rest = r.output_tokens - 1
    step = (r.e2el - r.ttft) / rest if rest else 0.0
    if step <= 0:  # all in one read
        return r.output_tokens if t0 <= first <= t1 else 0
    # Token k (0..rest) at first + k * step.
    lo = max(0, math.ceil((t0 - first) / step - 1e-9))
    hi = min(rest, math.floor((t1 - first) / step + 1e-9))
    return max(0, hi - lo + 1)


def steady_state(cell: Cell, records: Sequence[RequestRecord], duration: float) -> SteadyState | None:
    """The cell's steady state (None: its shape has no target to hold, or nothing was sent)."""
    rule = RULES.get(type(cell.shape))
    sent = [r for r in records if r.start_time]
    if rule is None or not sent:
        return None
    steps = in_flight_steps(sent)
    window = rule.window(cell, sent, steps)
    if window is None or window[1] <= window[0]:
        return SteadyState(target=rule.target(cell))
    t0, t1 = window
    origin = min(r.start_time for r in sent)
    inside = [r for r in sent if r.ok and t0 <= r.start_time and r.start_time + (r.e2el or 0.0) <= t1]
    span = t1 - t0
    ttft = latency_stats(TTFT, (r.ttft for r in inside if r.ttft is not None))
    tpots = latency_stats(TPOT, (t for r in inside if (t := tpot(r)) is not None))
    return SteadyState(
        target=rule.target(cell),
        start_s=t0 - origin,
        end_s=t1 - origin,
        duration_s=span,
        share=min(1.0, span / duration) if duration > 0 else 0.0,
        requests=len(inside),
        output_throughput=sum(tokens_within(r, t0, t1) for r in sent) / span,
        **ttft,
        **tpots,
    )


def with_steady_state(result: CellResult, cell: Cell, records: Sequence[RequestRecord]) -> CellResult:
    """The cell's result with its steady state, flagged where the window is under half the cell."""
    steady = steady_state(cell, records, result.duration)
    if steady is None:
        return result
    update: dict = {"steady": steady}
    if steady.share < SHORT_SHARE:
        rule = RULES[type(cell.shape)]
        held_for = (
            f"for {steady.duration_s:.1f} s of the cell's {result.duration:.1f} s ({steady.share:.0%})"
            if steady.start_s is not None
            else "at no moment of the cell"
        )
        reason = (
            f"the load held its target ({steady.target}) {held_for}: the whole-cell figures are mostly its "
            f"climb and drain (the steady-state figures stand beside them); {rule.advice}"
        )
        update["flags"] = [*result.flags, Flag(code=SHORT_STEADY_STATE, reason=reason)]
    return result.model_copy(update=update)
