"""How many load worker processes a run gets when the profile says `workers = "auto"` (the default).

One Python event loop times a limited load truthfully: `llmbench-tui selftest` put ours at about
11k streamed tokens/s within 5 ms of ITL error on a 2-core host (issue 4), or some hundreds of
concurrent streams at a GPU server's 20-50 ms per token. Past that its timestamps are late, so the
load is spread over more processes, but never over more CPUs than the client may use: two loops on
one core time no better than one.

The rule (documented in docs/scaling.md):
- a closed loop needs one worker per STREAMS_PER_WORKER streams of its largest concurrency;
- an open loop one per TOKENS_PER_WORKER planned output tokens/s (rate x output length), or per
  STREAMS_PER_WORKER of its cap on requests in flight, whichever asks more;
- at most the client's CPUs: its pinned set where isolation pins it, else half the host's usable
  CPUs (a GPU server's API process and engine cores need the rest);
- in-process mode and multi-turn datasets: 1 (the engine lives in the run process; a conversation's
  next turn is built from the answer its process received).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

from engine.plan import Cell

STREAMS_PER_WORKER = 256
TOKENS_PER_WORKER = 10_000.0


def client_cpu_budget(client_cpus: set[int] | None, usable: int | None = None) -> int:
    """CPUs the load may use: the pinned set, else half the host's usable CPUs (at least one)."""
    if client_cpus:
        return len(client_cpus)
    if usable is None:
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, usable // 2)


def demand(cells: Iterable[Cell]) -> tuple[int, str]:
    """Workers the heaviest cell asks for, and which cell and figure asked."""
    cells = list(cells)
    if any(c.turns for c in cells):
        return 1, "multi-turn conversations: each next turn is built from an answer one process saw"
    best, why = 1, "every cell fits one event loop"
    unknown = [c for c in cells if c.open_loop and not (c.shape.peak_rate() and c.output_len)]
    if unknown:  # a trace's or a dataset's output lengths are per request: no planned tok/s to judge by
        why = (
            f"{unknown[0].label}: its output tok/s are known only per request, so only its cap on requests in "
            f"flight counts here; give --workers N if it plans more than {TOKENS_PER_WORKER:,.0f} tok/s per worker"
        )
    for cell in cells:
        if cell.open_loop:
            tokens = (cell.shape.peak_rate() or 0.0) * cell.output_len
            need = max(math.ceil(tokens / TOKENS_PER_WORKER), math.ceil(cell.concurrency / STREAMS_PER_WORKER))
            figure = f"{tokens:,.0f} planned output tok/s over {TOKENS_PER_WORKER:,.0f} per worker"
        else:
            need = math.ceil(cell.concurrency / STREAMS_PER_WORKER)
            figure = f"{cell.concurrency} streams over {STREAMS_PER_WORKER} per worker"
        if need > best:
            best, why = need, f"{cell.label}: {figure}"
    return best, why


def choose(
    cells: Iterable[Cell], mode: str, client_cpus: set[int] | None, usable: int | None = None
) -> tuple[int, str]:
    """(workers, why) for `workers = "auto"`."""
    cells = list(cells)
    if mode == "inprocess":
        return 1, "in-process mode: the engine is reachable from the run process only"
    need, why = demand(cells)
    budget = client_cpu_budget(client_cpus, usable)
    if need > budget:
        return budget, f"{why} asks {need}, capped at the client's {budget} CPU(s)"
    return need, why
