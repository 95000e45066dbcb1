"""The load in several worker processes (`--workers N`), one coordinator: the run process.

One Python event loop tops out at some thousands of streamed tokens per second, and past that its
timestamps are late. Here the coordinator prepares every request, starts N workers
(engine.load.worker: each its own process, event loop and connections) and gives each a share:

- closed loop: the cell's C slots split exactly (`split`: sum C, never more than C in flight). The
  request indices are dealt from the coordinator as workers ask (a pull, not a fixed share): a
  worker whose requests finish sooner takes more. A worker asks a small batch ahead (no round trip
  before a send), but only out of what exceeds the cell's slots: the last C indices go only to
  slots that wait, so no worker sits on indices another's idle slot could send and slots
  stay busy to the end of the cell as in one process (a fixed share, or asking ahead to the end,
  cost a whole extra round of requests in a cell of 2 x C). The coordinator knows at every moment
  which indices each worker holds: what it must fail if that worker dies. Every request body goes to every worker
  once per phase, shipped once for all of them (engine.load.bodies; any worker may be dealt any index).
- open loop: the schedule dealt round-robin by planned send time; every worker sends at the planned
  offsets from one shared start (time.time(), the host's CLOCK_REALTIME) and times with its own
  monotonic clock; how late each began is recorded (WorkerHealth.start_late_s). A cap on requests in
  flight (--max-concurrency) is one over every worker: the coordinator holds its permits and grants
  them earliest planned send first (engine.load.permits).

Workers stream finished records back in batches, with their live counters (in flight, output
tokens); the coordinator calls on_record in order of arrival and keeps the CellLoad counters, so
progress, results and metrics (computed once over all records) are what one process would give.

A worker that dies mid-phase: the indices it held become failed records naming it and how it
died; the others go on (in a closed loop they take its remaining share); nothing recorded is lost.
A dead worker is started again for the next phase.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.load.bodies import SharedBodies, share, unshare
from engine.load.client import CellLoad, PhaseSend, PreparedRequest, finish_request
from engine.load.permits import PermitPool
from engine.load.record import RequestRecord
from engine.load.worker import Job, WorkerConfig, WorkerHealth
from engine.load.workerproc import _Worker
from engine.plan import Cell
from engine.spawn import python_argv

START_TIMEOUT_S = 120.0  # a worker imports the engine (and uvloop) before it says it is ready
START_MARGIN_S = 0.05  # the shared start: this long after every worker has its job


def split(total: int, n: int) -> list[int]:
    """`total` slots over `n` workers, exactly: sums to `total`, shares differ by at most one."""
    if n < 1:
        raise ValueError("at least one worker")
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


@dataclass
class _Phase:
    id: int
    cell: Cell
    requests: list[PreparedRequest]
    offsets: list[float] | None
    output_len: int
    warmup: bool
    on_record: Callable[[RequestRecord], None]
    load: CellLoad
    next: int = 0  # closed loop: the next index to deal
    slots: int = 0  # closed loop: the cell's slots over all workers
    held: dict[int, set[int]] = field(default_factory=dict)  # worker -> indices dealt, not yet recorded
    done: dict[int, asyncio.Future] = field(default_factory=dict)
    stopping: bool = False  # the run is being interrupted: requests cut short are not failures
    staged: dict[int, asyncio.Future] = field(default_factory=dict)  # worker -> its job received, waiting to go
    counters: dict[int, tuple[int, int]] = field(default_factory=dict)  # worker -> (in flight, output tokens)
    health: dict[int, WorkerHealth] = field(default_factory=dict)
    last_health: dict[int, WorkerHealth] = field(default_factory=dict)  # worker -> its health so far
    permits: PermitPool | None = None  # an open loop's cap on requests in flight, over every worker


class WorkerPool:
    """N load worker processes for one run; `run_phase` drives one cell phase over them."""

    def __init__(self, n: int, config: WorkerConfig):
        self.n, self.config = n, config
        self.workers: list[_Worker | None] = [None] * n
        self._phase: _Phase | None = None
        self._phases = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.start_margin_s = START_MARGIN_S  # the shared start: this long after every worker has its job
        self.start_timeout_s = START_TIMEOUT_S

    # -- processes ---------------------------------------------------------------------
    async def start(self) -> None:
        """Start every worker that is not running, and wait until each says it is ready."""
        self._loop = asyncio.get_running_loop()
        starting = []
        for i in range(self.n):
            w = self.workers[i]
            if w is None or not w.alive:
                starting.append(self._spawn(i))
        if starting:
            waits = [w.ready for w in starting]
            try:
                await asyncio.wait_for(asyncio.gather(*waits), self.start_timeout_s)
            except TimeoutError:
                raise RuntimeError(f"load workers not ready within {self.start_timeout_s:.0f} s") from None

    def _spawn(self, i: int) -> _Worker:
        """A fresh interpreter running engine.load.worker from this engine's root (engine.spawn, as the
        run process itself is started: unlike multiprocessing's spawn, it never re-imports the
        caller's __main__), holding one end of a socket pair as its only link to us."""
        ours, theirs = multiprocessing.Pipe(duplex=True)
        fd = theirs.fileno()
        process = subprocess.Popen(
            python_argv("engine.load.worker", str(fd), str(i)), pass_fds=(fd,), stdin=subprocess.DEVNULL
        )
        theirs.close()  # only the worker holds its end now: its death reads here as the end of the pipe
        ours.send(("config", self.config))
        w = _Worker(i, process, ours, pid=process.pid, ready=self._loop.create_future())
        self._watch(w)
        return w

    def _watch(self, w: _Worker) -> None:
        self.workers[w.index] = w
        w.reader = threading.Thread(target=self._read, args=(w,), name=f"load-worker-{w.index}-reader", daemon=True)
        w.reader.start()

    def _read(self, w: _Worker) -> None:
        """A thread per worker: every message to the loop in order of arrival, then its death."""
        loop = self._loop
        try:
            w.open()
            while True:
                for msg in w.receive():
                    loop.call_soon_threadsafe(self._on_message, w, msg)
        except (EOFError, OSError):
            pass
        try:
            loop.call_soon_threadsafe(self._on_eof, w)
        except RuntimeError:
            pass  # the loop is closed: the run is over

    async def _clocks(self, indices: list[int]) -> None:
        """Before a phase's shared start: the workers' clock offsets estimated again where they may
        differ (processes on this host share its clock: nothing to do)."""

    def _ship(self, requests: list[PreparedRequest]) -> SharedBodies:
        """The phase's request bodies, once for every worker (each job carries only the handle)."""
        return share(requests)

    def _unship(self, bodies: SharedBodies) -> None:
        """Every worker holds its job (or is gone): the shipped bodies are no longer needed."""
        unshare(bodies)

    def close(self) -> None:
        """Stop every worker (a phase cut short loses its requests in flight, as one process would)."""
        for w in self.workers:
            if w is not None:
                w.stop()
        deadline = time.monotonic() + 2.0
        for w in self.workers:
            if w is not None:
                w.reap(deadline)
                w.alive = False

    # -- one phase ---------------------------------------------------------------------
    async def run_phase(
        self,
        cell: Cell,
        requests: list[PreparedRequest],
        offsets: list[float] | None,
        send: PhaseSend,
        *,
        max_in_flight: int | None = None,
    ) -> tuple[float, list[WorkerHealth]]:
        """Drive `requests` over the workers (closed loop with `cell.concurrency` slots, or the open
        loop's `offsets`); return the wall duration from the shared start to the last answer, and
        each worker's health."""
        await self.start()
        self._phases += 1
        phase = _Phase(self._phases, cell, requests, offsets, send.output_len, send.warmup, send.on_record, send.load)
        bodies = self._ship(requests)
        base = dict(
            cell=cell, output_len=send.output_len, warmup=send.warmup, deadline_s=send.deadline_s, start_epoch=0.0
        )
        base |= dict(requests=[], bodies=bodies)
        if offsets is None:
            jobs = self._closed_jobs(phase, base)
        else:
            jobs = self._open_jobs(phase, base, max_in_flight)
        self._phase = phase
        try:
            try:
                start_epoch = await self._start_jobs(phase, jobs)
            finally:
                self._unship(bodies)
            await asyncio.gather(*phase.done.values())
        except asyncio.CancelledError:
            await self._stop_phase(phase, list(jobs))
            raise
        finally:
            self._phase = None
        n = len(requests)
        if phase.next < n and offsets is None:  # every worker died before the cell was dealt out
            self._fail(phase, range(phase.next, n), "not sent: every load worker died")
        ends = [h.end_epoch for h in phase.health.values()]
        duration = (max(ends) if ends else time.time()) - start_epoch
        return max(duration, 1e-9), sorted(phase.health.values(), key=lambda h: h.worker)

    def _closed_jobs(self, phase: _Phase, base: dict) -> dict[int, Job]:
        """The closed loop's jobs: the cell's slots split exactly, each with its first indices."""
        n = len(phase.requests)
        shares = split(min(phase.cell.concurrency, n), self.n)
        phase.slots = sum(shares)
        jobs: dict[int, Job] = {}
        for i, slots in enumerate(shares):
            if slots:
                first = list(range(phase.next, min(n, phase.next + slots)))
                phase.next += len(first)
                batch = max(1, slots // 4)
                jobs[i] = Job(phase.id, slots=slots, first=first, batch=batch, **base)
                phase.held[i] = set(first)
        return jobs

    def _open_jobs(self, phase: _Phase, base: dict, max_in_flight: int | None) -> dict[int, Job]:
        """The open loop's jobs: the schedule dealt round-robin; a cap on requests in flight held here,
        over every worker (engine.load.permits)."""
        offsets, n, active = phase.offsets, len(phase.requests), self.n
        phase.permits = PermitPool(max_in_flight) if max_in_flight else None
        jobs: dict[int, Job] = {}
        for i in range(active):
            idx = list(range(i, n, active))
            if idx:
                jobs[i] = Job(
                    phase.id,
                    offsets=[offsets[k] for k in idx],
                    indices=idx,
                    max_in_flight=max_in_flight,
                    **base,
                )
                phase.held[i] = set(idx)
        return jobs

    async def _start_jobs(self, phase: _Phase, jobs: dict[int, Job]) -> float:
        """Hand every worker its job, then the shared start (returned, in the coordinator's clock)."""
        for i, job in jobs.items():
            phase.done[i] = self._loop.create_future()
            phase.staged[i] = self._loop.create_future()
            try:
                self.workers[i].send(("job", job))
            except OSError:
                pass  # it died already: its end of the pipe tells the reader thread
        # The shared start is fixed only once every worker holds its job: a closed loop's job
        # carries every request body, and sending them one worker after another takes time (0.6
        # to 1.8 s for 4 jobs of 66 MB): a start fixed before would find the later workers late.
        for i in jobs:
            await asyncio.wait((phase.staged[i], phase.done[i]), return_when=asyncio.FIRST_COMPLETED)
        await self._clocks(list(jobs))
        start_epoch = time.time() + self.start_margin_s
        for i in jobs:
            if not phase.done[i].done():
                try:  # in the worker's own clock
                    self.workers[i].send(("go", phase.id, start_epoch + self.workers[i].clock_offset_s))
                except OSError:
                    pass
        return start_epoch

    async def _stop_phase(self, phase: _Phase, busy: list[int], wait_s: float = 2.0) -> None:
        """An interrupt mid-phase: stop every worker's sending now, and take the records it had
        finished but not yet sent (up to FLUSH_S of them), as one process would have kept them; the
        requests cut short are lost, not failed, as in one process. Bounded: a wedged worker is
        left to close()."""
        phase.stopping = True
        for i in busy:
            self.workers[i].stop()
        deadline = time.monotonic() + wait_s
        while any(self.workers[i].alive and not self.workers[i].stopped for i in busy):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)  # the reader threads hand the last records to this loop meanwhile

    def _on_message(self, w: _Worker, msg: tuple) -> None:
        kind = msg[0]
        if kind == "stopped":
            w.stopped = True
            return
        if kind == "ready":
            w.pid = msg[1]
            if not w.ready.done():
                w.ready.set_result(None)
            return
        phase = self._phase
        if kind == "error":
            w.error = msg[2].strip().splitlines()[-1] if msg[2].strip() else "an error"
            return
        if phase is None or msg[1] != phase.id:
            return  # a late message of a phase that is over
        if kind == "staged":
            if w.index in phase.staged and not phase.staged[w.index].done():
                phase.staged[w.index].set_result(None)
        elif kind == "ask":
            n = len(phase.requests)
            left = n - phase.next
            # Ahead of need only out of what exceeds the cell's slots; the last C only to waiting slots.
            k = max(min(msg[2], left - phase.slots), min(msg[3], left), 0)
            dealt = list(range(phase.next, phase.next + k))
            phase.next += k
            phase.held.setdefault(w.index, set()).update(dealt)
            try:
                w.send(("deal", phase.id, dealt, phase.next >= n))
            except OSError:
                pass  # it is dying: the reader thread will say so
        elif kind == "records":
            held = phase.held.get(w.index, set())
            for record in msg[2]:
                held.discard(record.index)
                record.start_time -= w.clock_offset_s  # its send time in the coordinator's clock
                self._record(phase, record)
            phase.counters[w.index] = (msg[3], msg[4])
            self._counters(phase)
        elif kind in ("want", "free") and phase.permits is not None:
            pool = phase.permits
            self._grant(phase, pool.want(w.index, msg[2]) if kind == "want" else pool.give_back(w.index, msg[2]))
        elif kind == "health":
            last = phase.last_health.get(w.index)
            phase.last_health[w.index] = last.then(msg[2]) if last is not None else msg[2]
        elif kind == "done":
            health: WorkerHealth = msg[2]
            health.end_epoch -= w.clock_offset_s
            w.annotate(health)  # a worker that may run elsewhere: where, and how its clock relates
            phase.health[w.index] = health
            phase.counters[w.index] = (0, phase.counters.get(w.index, (0, 0))[1])
            self._counters(phase)
            if not phase.done[w.index].done():
                phase.done[w.index].set_result(None)

    def _grant(self, phase: _Phase, grants: dict[int, int]) -> None:
        for i, k in grants.items():
            try:
                self.workers[i].send(("grant", phase.id, k))
            except OSError:
                pass  # it is dying: its permits come back when it is buried

    def _record(self, phase: _Phase, record: RequestRecord) -> None:
        finish_request(phase.load, phase.on_record, record)

    def _counters(self, phase: _Phase) -> None:
        phase.load.in_flight = sum(c[0] for c in phase.counters.values())
        phase.load.set_tokens(sum(c[1] for c in phase.counters.values()))

    def _on_eof(self, w: _Worker) -> None:
        w.alive = False
        if w.ready is not None and not w.ready.done():
            why = f": {w.error}" if w.error else ""
            w.ready.set_exception(RuntimeError(f"{w.name()} died while starting{why}"))
        self._loop.create_task(self._buried(w, self._phase))

    async def _buried(self, w: _Worker, phase: _Phase | None) -> None:
        """A worker's pipe ended: wait for its exit status, then fail what it held."""
        death = await asyncio.get_running_loop().run_in_executor(None, w.death)
        how = w.error or death
        if phase is None or phase is not self._phase or w.index not in phase.done or phase.done[w.index].done():
            return
        if phase.stopping:
            return  # stopped by an interrupt: what it held was cut short, not failed
        reason = f"{w.name()} died ({how}) with the request in flight or waiting to be sent"
        # Its figures up to its last report (none within its first second: only that it died).
        last = phase.last_health.get(w.index) or WorkerHealth(w.index, w.pid, 0.0, [], None, 0.0, time.time())
        last.end_epoch -= w.clock_offset_s if w.index in phase.last_health else 0.0
        last.died = f"{w.name()} died ({how})"
        w.annotate(last)
        phase.health[w.index] = last
        held = sorted(phase.held.pop(w.index, set()))
        self._fail(phase, held, reason)
        if phase.permits is not None:
            self._grant(phase, phase.permits.drop(w.index))
        phase.counters[w.index] = (0, phase.counters.get(w.index, (0, 0))[1])
        self._counters(phase)
        phase.done[w.index].set_result(None)

    def _fail(self, phase: _Phase, indices, reason: str) -> None:
        for i in indices:
            planned = phase.offsets[i] if phase.offsets is not None else None
            expected = phase.requests[i].expected_prompt_tokens
            record = RequestRecord.for_cell(phase.cell, i, phase.output_len, phase.warmup, expected, planned_s=planned)
            record.error = reason
            self._record(phase, record)
