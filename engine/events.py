"""The event stream a run emits. The headless console and the TUI are two observers of it.

A run process appends every event to events.jsonl (one JSON object per line, `to_record`); a
front end, in another process, reads them back (`from_record`) and sees what an in-process
observer would have seen, the time each event happened included. Both go through one
discriminated union of the event types, tagged by the "event" field.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Union

from pydantic import Discriminator, Field, Tag, TypeAdapter

from engine.plan import Cell
from engine.report.model import CellResult

_OMIT_NONE = Field(exclude_if=lambda v: v is None)


@dataclass
class Event:
    at: float = field(default_factory=time.time, kw_only=True)  # epoch seconds, when it happened


@dataclass
class ServerState:
    """The server's own view, from its Prometheus /metrics (None: not exported)."""

    running: float | None = None
    waiting: float | None = None
    kv_cache_usage: float | None = None  # 0..1
    generation_tokens_total: float | None = None
    prompt_tokens_total: float | None = None
    preemptions_total: float | None = None
    # Prefix cache: prompt tokens looked up and found, counted by the server since it started.
    # Speculative decoding: drafts proposed, their tokens, the tokens accepted, and the accepted
    # tokens per draft position (position 0 first); None: the server does not speculate. Left out
    # of events.jsonl when None, so a line reads as the version before them wrote it.
    prefix_cache_queries_total: Annotated[float | None, _OMIT_NONE] = None
    prefix_cache_hits_total: Annotated[float | None, _OMIT_NONE] = None
    spec_drafts_total: Annotated[float | None, _OMIT_NONE] = None
    spec_draft_tokens_total: Annotated[float | None, _OMIT_NONE] = None
    spec_accepted_tokens_total: Annotated[float | None, _OMIT_NONE] = None
    spec_accepted_per_pos_total: Annotated[tuple[float, ...] | None, _OMIT_NONE] = None


@dataclass
class DeviceReading:
    """One reading of one device (nvidia:0, amd:1) or of the launched server's process tree
    (process). None: the device does not report it (absent is never 0)."""

    source: str
    name: str = ""
    utilization: float | None = None  # %
    memory_used_mib: float | None = None
    power_w: float | None = None
    temperature_c: float | None = None
    clock_mhz: float | None = None  # SM (NVIDIA) or GFX (AMD) clock
    memory_clock_mhz: float | None = None
    energy_counter_j: float | None = None  # the device's own energy counter, where it has one
    cpu_percent: float | None = None  # process tree: % of one core
    rss_mib: float | None = None  # process tree: resident memory, summed over its processes


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
    state: ServerState


@dataclass
class TelemetrySampled(Event):
    """The latest hardware readings (about once a second while cells run)."""

    readings: list[DeviceReading] = field(default_factory=list)


@dataclass
class CellStarted(Event):
    cell: Cell
    total_cells: int
    # --repeat N: which round (0, 1, ...) of `rounds` (None: a run of one round)
    round: int | None = None
    rounds: int | None = None
    # (cell, round)s this run has left to measure, this one included: a resume counts only what it
    # has left (None: not known ahead, a search's probes; or an older events.jsonl)
    left: int | None = None


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
    exit_code: int | None = None  # what the run's command exits with

    def headline(self) -> str:
        """The console's last progress line: how it ended, and why where it did not complete."""
        return f"run {self.status}" + (f": {self.error}" if self.error else "")


@dataclass
class SweepFinished(RunFinished):
    """A sweep ended (results_dir: the sweep folder); `wrote`: what it wrote there besides its
    variants' run folders (sweep.json, and whether it holds the frontier)."""

    wrote: list[str] = field(default_factory=list)

    def headline(self) -> str:
        wrote = f"; wrote {', '.join(self.wrote)}" if self.wrote else ""
        return f"sweep {self.status}" + (f": {self.error}" if self.error else "") + wrote


@dataclass
class SweepProgress(Event):
    """Where a sweep is: variant i of N (1-based), cell j of M of that variant (0: its server is
    starting; M 0: a search, whose cells are not known ahead), and the time left (None: not yet known)."""

    variant: int
    variants: int
    name: str
    cell: int
    cells: int
    eta_s: float | None = None


@dataclass
class VariantFinished(Event):
    """A sweep's variant ended: done, failed (why, and its run folder holds server.log) or pending
    (interrupted: a resume goes on with it)."""

    name: str
    status: str
    run: str
    error: str | None = None


Observer = Callable[[Event], None]


def _kinds(cls: type[Event]) -> list[type[Event]]:
    """Every event type: Event's subclasses and theirs (SweepFinished is a RunFinished)."""
    return [k for sub in cls.__subclasses__() for k in (sub, *_kinds(sub))]


EVENTS: dict[str, type[Event]] = {cls.__name__: cls for cls in _kinds(Event)}


def _kind(value: Any) -> str | None:
    """An event's tag: a record's "event" field, or the class name of an event object."""
    return value.get("event") if isinstance(value, dict) else type(value).__name__


# Every event in one discriminated union, tagged by its class name (a record's "event" field):
# pydantic builds the nested types (Cell, CellResult, ServerState, DeviceReading) from their fields.
AnyEvent = Annotated[
    Union[tuple(Annotated[cls, Tag(name)] for name, cls in EVENTS.items())],  # noqa: UP007 (built from a tuple)
    Discriminator(_kind),
]
_EVENTS = TypeAdapter(AnyEvent)


def to_record(event: Event) -> dict[str, Any]:
    """One line of events.jsonl: {"event": its kind, then its fields}."""
    return {"event": type(event).__name__, **_EVENTS.dump_python(event, mode="json")}


def from_record(record: dict[str, Any]) -> Event | None:
    """The event a line of events.jsonl holds (None for a kind this version does not know); a field
    this version does not have is ignored, one it added since takes its default."""
    if record.get("event") not in EVENTS:
        return None
    return _EVENTS.validate_python(record)
