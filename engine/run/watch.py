"""Watching a load phase for a server that is gone or stalled, so that a cell ends within seconds
of the fault instead of waiting out each request's timeout. Every half second, beside any load
phase (all keep one CellLoad up to date): gone, the launcher says its processes ended; stalled,
requests are in flight and for `load.stall_timeout_s` no token came, no request ended and the
server's /metrics did not move. Either ends the run with exit code 1 (LoadFault), keeping what was
recorded. How the 60 s default was chosen: docs/runs.md, "Keeper and stalls"."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from engine.events import ServerState
from engine.load.client import CellLoad
from engine.plan import Cell
from engine.server.launcher_base import Launcher
from engine.telemetry.recorder import TelemetryRecorder

CHECK_S = 0.5  # how often the watcher looks: a fault is known within about this


class LoadFault(Exception):
    """The server went away or stalled under load: the run ends (exit code 1). `what` happened (it
    comes first in the run's message, before the cell it cut short), then the `diagnosis`."""

    def __init__(self, what: str, diagnosis: str = ""):
        super().__init__(f"{what}; {diagnosis}" if diagnosis else what)
        self.what, self.diagnosis = what, diagnosis


@dataclass
class StallClock:
    """When the load last moved: an output token, a request that ended, a change in the server's
    own numbers; `still_for` says how long ago that was (0 while nothing is in flight)."""

    moved_at: float
    client: tuple[int, int, int] = (0, 0, 0)
    server: ServerState | None = None  # the server's numbers as last seen (None: never read)
    server_since: float = 0.0  # since when they are what they are

    def still_for(self, now: float, load: CellLoad, state: ServerState | None) -> float:
        client = (load.output_tokens, load.done, load.failed)
        if client != self.client or load.in_flight == 0:  # nothing in flight: nothing is owed
            self.client, self.moved_at = client, now
        if state is not None and state != self.server:  # a server that moves is working
            self.server, self.server_since, self.moved_at = state, now, now
        return now - self.moved_at


class LoadWatch:
    """Beside one load phase's task: on a fault it keeps the fault in `fault` and cancels that task;
    the runner, seeing the task cancelled, raises the fault in its place. `close()` ends the watch."""

    def __init__(
        self,
        cell: Cell,
        load: CellLoad,
        launcher: Launcher,
        recorder: TelemetryRecorder | None,
        stall_timeout_s: float,
        warmup: bool,
    ):
        self.cell, self.load, self.launcher, self.recorder = cell, load, launcher, recorder
        self.bound_s, self.warmup = stall_timeout_s, warmup
        self.fault: Exception | None = None
        self.load_task: asyncio.Future | None = None
        self.task: asyncio.Task | None = None

    def start(self, load_task: asyncio.Future) -> None:
        self.load_task = load_task
        self.task = asyncio.create_task(self._watch())

    def close(self) -> None:
        self.task.cancel()

    async def _watch(self) -> None:
        clock = StallClock(time.monotonic())
        where = f" in the warm-up of cell {self.cell.label}" if self.warmup else ""
        try:
            while True:
                await asyncio.sleep(CHECK_S)
                if (why := self.launcher.gone()) is not None:
                    return self._fail(LoadFault(f"{why}{where}", "see server.log in the results folder"))
                now = time.monotonic()
                state = self.recorder.last_state if self.recorder is not None else None
                still = clock.still_for(now, self.load, state)
                if still >= self.bound_s:
                    what = (
                        f"the server stalled: no output token on any of the {self.load.in_flight} requests in "
                        f"flight for {still:.0f} s (the stall bound: load.stall_timeout_s, --stall-timeout "
                        f"{self.bound_s:g}){where}"
                    )
                    return self._fail(LoadFault(what, self.diagnosis(clock, now)))
        except Exception as exc:  # a fault of the watcher itself: the run ends with it, never unwatched
            self._fail(exc)

    def _fail(self, fault: Exception) -> None:
        self.fault = fault
        self.load_task.cancel()

    def diagnosis(self, clock: StallClock, now: float) -> str:
        """What the server's /metrics and processes said, and what the run does next."""
        return "; ".join(
            [
                metrics_note(clock, self.recorder, now),
                self.launcher.process_note() + tree_usage(self.recorder),
                "the run ends here: a stalled server would stall every cell after this one",
            ]
        )


def _n(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def metrics_note(clock: StallClock, recorder: TelemetryRecorder | None, now: float) -> str:
    state = clock.server
    if state is None:
        why = (recorder.metrics_note if recorder is not None else None) or "none read"
        return f"its /metrics: not read ({why}), so the bound alone decided"
    kv = "n/a" if state.kv_cache_usage is None else f"{state.kv_cache_usage:.0%}"
    note = (
        f"its /metrics, unchanged for {now - clock.server_since:.0f} s: {_n(state.running)} requests running, "
        f"{_n(state.waiting)} waiting, KV cache {kv} used, {_n(state.generation_tokens_total)} generation "
        f"and {_n(state.prompt_tokens_total)} prompt tokens counted"
    )
    if recorder is not None and recorder.last_state is None:
        note += f" (it answers no more: {recorder.metrics_note})"
    return note


def tree_usage(recorder: TelemetryRecorder | None) -> str:
    """The server's process tree's last CPU and memory reading (telemetry's process reader), if any."""
    if recorder is None:
        return ""
    _, readings = recorder.window()
    last = next((r for _, r in reversed(readings) if r.source == "process"), None)
    if last is None or last.cpu_percent is None:
        return ""
    rss = "" if last.rss_mib is None else f", {last.rss_mib:.0f} MiB resident"
    return f", its tree using {last.cpu_percent:.0f}% of a core{rss}"
