"""A sweep's time left: the server's start-up as measured on the first variant that started one,
and each cell's duration as measured on the variants before (cell j of every variant has the same
load, so it takes about as long); a cell not measured yet counts as the mean of those that were.
A resumed variant counts only the (cell, round)s it has left; every variant after it, all of them."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean

from engine.events import CellFinished, CellStarted, Event, PhaseChanged, SweepProgress


class SweepClock:
    def __init__(self, cells_per_variant: int, rounds: int = 1):
        self.cells = cells_per_variant
        self.rounds = rounds  # --repeat N: each cell measured N times
        self.startup_s: float | None = None
        self.cell_s: dict[int, list[float]] = {}
        self._launched_at: float | None = None
        self._cell_at: float | None = None

    def observe(self, event: Event) -> None:
        """Times from a variant's own events: its launch, its first cell, each cell's start and end."""
        if isinstance(event, PhaseChanged) and event.phase == "launching":
            self._launched_at = event.at
        elif isinstance(event, CellStarted):
            if self._launched_at is not None and self.startup_s is None:
                self.startup_s = event.at - self._launched_at
            self._launched_at, self._cell_at = None, event.at
        elif isinstance(event, CellFinished) and self._cell_at is not None:
            self.cell_s.setdefault(event.cell.index, []).append(event.at - self._cell_at)
            self._cell_at = None

    def _cell_estimate(self, index: int) -> float | None:
        if index in self.cell_s:
            return mean(self.cell_s[index])
        measured = [d for ds in self.cell_s.values() for d in ds]
        return mean(measured) if measured else None

    def eta_s(self, left: Sequence[int], variants_after: int, starting: bool = False) -> float | None:
        """Seconds left: this variant's server start when `starting`, the cells it has `left` (a
        cell index per (cell, round) still to measure, the one now starting included), then
        `variants_after` more variants, each a server start and every cell's every round."""
        if not self.cells or self.startup_s is None:
            return None
        estimates = [self._cell_estimate(i) for i in range(self.cells)]
        if any(e is None for e in estimates):
            return None
        this = sum(estimates[i] for i in left) + (self.startup_s if starting else 0.0)
        return this + variants_after * (self.startup_s + self.rounds * sum(estimates))


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA after the first variant's server start and cells"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}h{minutes:02d}m" if hours else f"ETA {minutes}m{secs:02d}s"


def progress_line(event: SweepProgress) -> str:
    """'variant 2/4 max-num-seqs=16: cell 3/6, ETA 4m10s' (cell 0: its server is starting)."""
    of = f"/{event.cells}" if event.cells else ""
    where = f"cell {event.cell}{of}" if event.cell else "starting its server"
    return f"variant {event.variant}/{event.variants} {event.name}: {where}, {eta_text(event.eta_s)}"
