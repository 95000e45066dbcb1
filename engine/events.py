"""The event stream a run emits. The headless console and the TUI are two observers of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.plan import Cell
from engine.report.model import CellResult


@dataclass
class Event:
    pass


@dataclass
class PhaseChanged(Event):
    # launching, waiting, discovering, warmup, measuring, stopping; at the end: done, failed, interrupted
    phase: str
    detail: str = ""
    cell: Cell | None = None


@dataclass
class ServerWaiting(Event):
    elapsed_s: float
    timeout_s: float
    last_log_line: str


@dataclass
class ServerStateChanged(Event):
    state: Any  # engine.server.metrics.ServerState


@dataclass
class CellStarted(Event):
    cell: Cell
    total_cells: int


@dataclass
class LoadProgress(Event):
    cell: Cell
    done: int
    failed: int
    in_flight: int
    total: int
    output_tokens: int
    # Output tokens per second over the last few seconds, and since the cell started.
    live_output_tps: float
    elapsed_s: float
    # Share of the last half second the load's thread waited for a CPU (None: not measurable).
    client_wait_share: float | None = None


@dataclass
class CellFinished(Event):
    cell: Cell
    result: CellResult


@dataclass
class Notice(Event):
    level: str  # info, warning, error
    message: str


@dataclass
class RunFinished(Event):
    status: str  # completed, failed, interrupted
    results_dir: str
    cells: list[CellResult] = field(default_factory=list)
    error: str | None = None


Observer = Callable[[Event], None]
