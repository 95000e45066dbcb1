"""What a run looks like right now, folded from its events: for front ends to render as is."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from engine.events import (
    CellFinished,
    CellStarted,
    DeviceReading,
    Event,
    LoadProgress,
    Notice,
    PhaseChanged,
    RunFinished,
    ServerState,
    ServerStateChanged,
    ServerWaiting,
    TelemetrySampled,
)
from engine.plan import Cell
from engine.report.model import CellResult


@dataclass
class RunProgress:
    total_cells: int = 0
    phase: str = "starting"
    detail: str = ""
    cell: Cell | None = None
    cells_done: int = 0  # cells measured (with --repeat N: rounds of cells)
    measured_s: float = 0.0  # their measurement time, this session's only (not a resume's earlier rounds)
    left: int | None = None  # (cell, round)s the run has left, the one running included (None: not known)
    round: int | None = None  # of the cell being measured, and of how many (None: one round)
    rounds: int | None = None
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    cell_total: int = 0
    live_tps: float = 0.0
    client_wait_share: float | None = None
    server: ServerState | None = None
    hardware: list[DeviceReading] = field(default_factory=list)  # the latest telemetry readings
    cells: list[CellResult] = field(default_factory=list)
    # (seconds since the run started, output tok/s), the last minute of it.
    tps_history: collections.deque = field(default_factory=lambda: collections.deque(maxlen=120))
    log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=200))
    status: str | None = None  # set when the run ended
    results_dir: str | None = None
    error: str | None = None
    started: float | None = None  # epoch seconds of the first event (a replay keeps the run's own times)
    last_at: float | None = None

    @property
    def elapsed_s(self) -> float:
        if self.started is None:
            return 0.0
        return (self.last_at if self.status else time.time()) - self.started

    def eta_s(self) -> float | None:
        """Remaining time, from the mean duration of the cells measured so far (None before the
        first) times the cells left: a resumed run's left, else those of the whole plan not done."""
        if not self.cells_done or not self.total_cells:
            return None
        left = self.left if self.left is not None else self.total_cells * (self.rounds or 1) - self.cells_done
        return self.measured_s / self.cells_done * max(left, 0)

    def hardware_line(self) -> str:
        """The latest readings in a line: per GPU power and utilisation, or the server's CPU and memory."""
        parts = []
        for r in self.hardware:
            if r.source == "process":
                cpu = "?" if r.cpu_percent is None else f"{r.cpu_percent:.0f}%"
                rss = "?" if r.rss_mib is None else f"{r.rss_mib / 1024:.1f} GiB"
                parts.append(f"server CPU {cpu} RSS {rss}")
            else:
                power = "? W" if r.power_w is None else f"{r.power_w:.0f} W"
                util = "?" if r.utilization is None else f"{r.utilization:.0f}%"
                parts.append(f"{r.source} {power} {util}")
        return "  ".join(parts)

    def apply(self, event: Event) -> None:
        self.started = self.started or event.at
        self.last_at = event.at
        match event:
            case PhaseChanged():
                self.phase, self.detail = event.phase, event.detail
            case ServerWaiting():
                self.detail = f"waiting for /health: {event.elapsed_s:.0f} s of {event.timeout_s:.0f} s"
                if event.last_log_line and (not self.log or self.log[-1] != event.last_log_line):
                    self.log.append(event.last_log_line)
            case Notice():
                self.log.append(f"{event.level}: {event.message}")
            case CellStarted():
                self.cell, self.total_cells = event.cell, event.total_cells
                self.round, self.rounds, self.left = event.round, event.rounds, event.left
                self.done = self.failed = self.in_flight = 0
                self.cell_total = event.cell.num_prompts
            case LoadProgress():
                self.done, self.failed, self.in_flight = event.done, event.failed, event.in_flight
                self.cell_total, self.live_tps = event.total, event.live_output_tps
                self.client_wait_share = event.client_wait_share
                self.tps_history.append((event.at - self.started, event.live_output_tps))
            case ServerStateChanged():
                self.server = event.state
            case TelemetrySampled():
                self.hardware = event.readings
            case CellFinished():  # a cell, or its result made again with one more round
                at = next((i for i, c in enumerate(self.cells) if c.cell == event.result.cell), None)
                if at is None or event.result.rounds is None:
                    self.cells.append(event.result)
                else:
                    self.cells[at] = event.result
                self.cells_done += 1
                self.measured_s += round_duration(event.result, self.round)
                self.left = None if self.left is None else self.left - 1
            case RunFinished():
                self.status, self.results_dir, self.error = event.status, event.results_dir, event.error


def round_duration(result: CellResult, round: int | None) -> float:
    """How long the round just measured took: a cell of one round, its own duration; a cell of
    rounds (whose duration is their total), that round's."""
    if result.rounds is None:
        return result.duration
    return next((r.duration for r in result.rounds if r.round == round), 0.0)
