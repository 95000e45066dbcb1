"""Repeated rounds (--repeat N): the order each round measures the cells in, and a cell's result
made from its rounds.

Round r measures every cell once, in the plan's order rotated by a seeded start plus r steps of
about cells / N, so a drift of the server or the host over the run spreads over all cells rather
than landing on the ones measured last. A cell's result is the mean of its rounds' figures (rates,
latencies, per-GPU and client figures), with each figure of merit's 95% interval
(engine.stats.intervals); its counts and duration are totals over the rounds; its sections
(server counters, hardware, open loop, dataset, per-turn figures) are its first round's, every
round's own kept in `rounds`; each round's flags are the cell's, named by round.
"""

from __future__ import annotations

import collections
import random

from engine.report.model import CellResult, Flag
from engine.report.registry import METRICS
from engine.stats.intervals import mean_interval

# Counts over the cell's requests: a cell of N rounds sent N times the requests.
SUMMED = frozenset(
    {
        "duration",
        "completed",
        "failed",
        "num_prompts",
        "total_input_tokens",
        "total_output_tokens",
        "input_len_mismatches",
        "output_len_mismatches",
        "one_read_requests",
        "rejected",
    }
)
# The figures of merit, whose means carry an interval (every other averaged figure is a mean only).
WITH_INTERVAL = frozenset(m.key for m in METRICS.values() if m.higher_is_better is not None)


def round_orders(cells: list[int], repeats: int, seed: int) -> list[list[int]]:
    """Each round's order of `cells` (plan indices): the plan rotated from a start drawn from
    `seed`, by a step of cells // repeats (at least 1) more each round. One round keeps the plan's
    order: it has no drift to spread, and the grid is measured as it was written."""
    n = len(cells)
    if repeats == 1:
        return [list(cells)]
    if n == 0:
        return [[] for _ in range(repeats)]
    start, step = random.Random(seed).randrange(n), max(1, n // repeats)
    return [[cells[(start + r * step + i) % n] for i in range(n)] for r in range(repeats)]


def _averaged(name: str, values: list) -> bool:
    """A figure the cell's result gives as the mean of its rounds': a float in some round."""
    return (
        name not in SUMMED
        and any(isinstance(v, float) for v in values)
        and all(v is None or isinstance(v, float | int) for v in values)
    )


def combine(rounds: list[CellResult]) -> CellResult:
    """One cell's result from its rounds' results (in round order; one round gives it back with `rounds`)."""
    first = rounds[0]
    update: dict = {"rounds": rounds, "round": None, "intervals": {}}
    for name in CellResult.model_fields:
        values = [getattr(r, name) for r in rounds]
        if name in SUMMED:
            update[name] = sum(values)
        elif _averaged(name, values):
            present = [float(v) for v in values if v is not None]
            update[name] = sum(present) / len(present) if present else None
            if name in WITH_INTERVAL and (interval := mean_interval(present)) is not None:
                update["intervals"][name] = interval
    # Each round's flags, named by it, in round order.
    update["flags"] = [
        Flag(code=f.code, reason=f"round {(r.round or 0) + 1}: {f.reason}") for r in rounds for f in r.flags
    ]
    update["errors"] = dict(sum((collections.Counter(r.errors) for r in rounds), collections.Counter()))
    update["intervals"] = update["intervals"] or None
    return first.model_copy(update=update)


def add_round(cells: list[CellResult], result: CellResult, repeats: int) -> CellResult:
    """Put a measured cell (a round of it, when `repeats` > 1) into the run's `cells`: a new entry,
    or the cell's result made again with this round. Returns the cell's result as it now stands."""
    if repeats <= 1:
        cells.append(result)
        return result
    at = next((i for i, c in enumerate(cells) if c.cell == result.cell), None)
    earlier = cells[at].rounds or [] if at is not None else []
    combined = combine(sorted([*earlier, result], key=lambda r: r.round or 0))
    if at is None:
        cells.append(combined)
    else:
        cells[at] = combined
    return combined


def measured_rounds(cell: CellResult) -> set[int]:
    """The rounds a cell's result holds (a result of one round, or of a run before rounds: round 0)."""
    return {r.round or 0 for r in cell.rounds} if cell.rounds else {cell.round or 0}
